{#- One row per Internet host provider (the request's Host header, lower-cased, port
    dropped; 'unknown' when absent): the events of fct_events by host provider.

    Read from fct_events' inputs, not the view: the events are first grouped by provider
    and raw ids (a few rows per player), then attributed to users through
    int_identity_map, where the view would attribute every event of the history before
    grouping it (the join for each of millions of rows, on every run). -#}

with pairs as (
    select
        host_provider,
        user_id,
        anonymous_id,
        min(event_date) as first_seen_date,
        max(event_date) as last_seen_date,
        count(*) as events
    from {{ ref('stg_events') }}
    group by host_provider, user_id, anonymous_id
)

select
    p.host_provider,
    min(p.first_seen_date) as first_seen_date,
    max(p.last_seen_date) as last_seen_date,
    count(distinct m.user_key) as users,
    cast(sum(p.events) as {{ dbt.type_bigint() }}) as events
from pairs as p
-- the join of fct_events: the same events, attributed the same way
inner join {{ ref('int_identity_map') }} as m
    on m.node = {{ eventlake.attribution_node('p.user_id', 'p.anonymous_id') }}
group by p.host_provider
