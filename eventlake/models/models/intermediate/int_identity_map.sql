{#-
  Identity graph: every anonymousId and userId is a node; an event carrying both ids, and an
  alias (previousId -> userId), is an edge. Connected components are found by min-label
  propagation unrolled var('identity_passes') times (portable: no recursive CTE), each pass
  one hop; the test identity_map_converged fails if a chain is longer than that. A
  component's user_key is its userId that is never an alias previousId (the end of the
  alias chain; ties: the smallest), or the anonymousId itself when nobody identified.
-#}
{%- set passes = var('identity_passes', 16) -%}

with raw_events as (
    select anonymous_id, user_id, previous_id, type from {{ ref('int_identity_ids') }}
),

links as (
    select distinct 'a:' || anonymous_id as src, 'u:' || user_id as dst
    from raw_events
    where anonymous_id is not null and user_id is not null
    union
    select distinct 'u:' || previous_id as src, 'u:' || user_id as dst
    from raw_events
    where type = 'alias' and previous_id is not null and user_id is not null
    union
    select distinct 'a:' || previous_id as src, 'u:' || user_id as dst
    from raw_events
    where type = 'alias' and previous_id is not null and user_id is not null
),

nodes as (
    select 'a:' || anonymous_id as node from raw_events where anonymous_id is not null
    union
    select 'u:' || user_id as node from raw_events where user_id is not null
    union
    select src as node from links
    union
    select dst as node from links
),

edges as (
    select src as a, dst as b from links
    union all
    select dst as a, src as b from links
    union all
    select node as a, node as b from nodes
),

label_0 as (
    select node, node as label from nodes
),
{% for i in range(1, passes + 1) %}
label_{{ i }} as (
    select e.a as node, min(p.label) as label
    from edges as e
    inner join label_{{ i - 1 }} as p on p.node = e.b
    group by e.a
),
{% endfor %}

components as (
    select node, label from label_{{ passes }}
),

known_users as (
    select distinct user_id from raw_events where user_id is not null
),

alias_sources as (
    select distinct previous_id from raw_events where type = 'alias' and previous_id is not null
),

candidates as (
    select
        c.label,
        k.user_id,
        case when s.previous_id is null then 0 else 1 end as is_alias_source
    from components as c
    inner join known_users as k on c.node = 'u:' || k.user_id
    left join alias_sources as s on s.previous_id = k.user_id
),

ranked as (
    select
        label,
        user_id,
        row_number() over (partition by label order by is_alias_source, user_id) as rn
    from candidates
),

canonical as (
    select label, user_id from ranked where rn = 1
)

select
    c.node,
    c.label as component,
    coalesce(k.user_id, substr(c.label, 3)) as user_key,
    case when k.user_id is null then false else true end as is_identified
from components as c
left join canonical as k on k.label = c.label
