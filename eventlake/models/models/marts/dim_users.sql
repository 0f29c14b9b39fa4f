{#- One row per stitched user (user_key): every anonymousId linked through identify and
    alias calls to one userId (the end of the alias chain), or a never-identified visitor
    keyed by their anonymousId. First/last seen and event count over all their events,
    from int_user_days (a row per user and day, much smaller than the events); the number
    of anonymousIds their events carried, from the identity map; traits from their latest
    identify. Rebuilt whole each run from those small tables. -#}

with activity as (
    select
        user_key,
        min(first_event_at) as first_seen_at,
        max(last_event_at) as last_seen_at,
        min(activity_date) as first_seen_date,
        max(activity_date) as last_seen_date,
        sum(events) as event_count
    from {{ ref('int_user_days') }}
    group by user_key
),

identities as (
    select distinct user_key, is_identified from {{ ref('int_identity_map') }}
),

anonymous_ids as (
    select m.user_key, count(*) as anonymous_ids
    from {{ ref('int_identity_map') }} as m
    where m.node in (
        select 'a:' || anonymous_id from {{ ref('int_identity_ids') }}
        where anonymous_id is not null
    )
    group by m.user_key
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
    coalesce(n.anonymous_ids, 0) as anonymous_ids,
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
left join anonymous_ids as n on n.user_key = a.user_key
left join latest_identify as t on t.user_key = a.user_key
