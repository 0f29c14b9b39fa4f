{#- One row per stitched user (user_key): every anonymousId linked through identify and
    alias calls to one userId (the end of the alias chain), or a never-identified visitor
    keyed by their anonymousId. First/last seen over all their events; traits from their
    latest identify. -#}

with activity as (
    select
        user_key,
        min(event_at) as first_seen_at,
        max(event_at) as last_seen_at,
        min(event_date) as first_seen_date,
        max(event_date) as last_seen_date,
        count(*) as event_count,
        count(distinct anonymous_id) as anonymous_ids
    from {{ ref('fct_events') }}
    group by user_key
),

identities as (
    select distinct user_key, is_identified from {{ ref('int_identity_map') }}
),

latest_identify as (
    select user_key, traits
    from (
        select
            user_key,
            traits,
            row_number() over (
                partition by user_key order by event_at desc, message_id desc
            ) as rn
        from {{ ref('fct_events') }}
        where event_type = 'identify' and traits is not null
    ) as ranked
    where rn = 1
)

select
    a.user_key,
    case when i.is_identified then a.user_key end as user_id,
    i.is_identified,
    a.anonymous_ids,
    a.first_seen_at,
    a.last_seen_at,
    a.first_seen_date,
    a.last_seen_date,
    a.event_count,
    t.traits as latest_traits,
    {{ eventlake.json_text('t.traits', 'email') }} as email,
    {{ eventlake.json_text('t.traits', 'name') }} as name
from activity as a
inner join identities as i on i.user_key = a.user_key
left join latest_identify as t on t.user_key = a.user_key
