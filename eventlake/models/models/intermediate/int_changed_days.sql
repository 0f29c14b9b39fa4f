{#-
  The days an incremental run rebuilds: var('changed_days') (lake partitions with new rows)
  plus every other day whose result they can change:
  - days holding another copy of a messageId that arrived on a changed day (which copy wins
    can move);
  - every day of a user whose identity gained a new link (identify/alias) on a changed day
    (retroactive stitching re-attributes their old events);
  - the old first-seen day of a user whose first event moved earlier (new_users).
  changed_days null: every day (a full rebuild); an empty list: no day.
-#}
-- depends_on: {{ ref('int_identity_map') }}
{%- set days = var('changed_days', none) -%}

{% if days is none %}

select distinct event_date as day from {{ source('raw', 'events') }}

{% elif days | length == 0 %}

select cast(null as date) as day from {{ source('raw', 'events') }} where 1 = 0

{% else %}

with given as (
    {%- for d in days %}
    select cast('{{ d }}' as date) as day{% if not loop.last %} union all{% endif %}
    {%- endfor %}
),

raw_events as (
    select event_date, message_id, anonymous_id, user_id, previous_id, type
    from {{ source('raw', 'events') }}
),

dup_days as (
    select distinct r.event_date as day
    from raw_events as r
    where r.message_id in (
        select message_id from raw_events where event_date in (select day from given)
    )
),

links as (
    select event_date, 'a:' || anonymous_id as src, 'u:' || user_id as dst
    from raw_events
    where anonymous_id is not null and user_id is not null
    union all
    select event_date, 'u:' || previous_id as src, 'u:' || user_id as dst
    from raw_events
    where type = 'alias' and previous_id is not null and user_id is not null
),

new_links as (
    select src, dst from links where event_date in (select day from given)
    {{ dbt.except() }}
    select src, dst from links where event_date not in (select day from given)
),

affected_keys as (
    select distinct m.user_key
    from new_links as l
    inner join {{ ref('int_identity_map') }} as m on m.node = l.dst
),

row_keys as (
    select
        r.event_date,
        coalesce(mu.user_key, ma.user_key) as user_key
    from raw_events as r
    left join {{ ref('int_identity_map') }} as mu on mu.node = 'u:' || r.user_id
    left join {{ ref('int_identity_map') }} as ma on ma.node = 'a:' || r.anonymous_id
),

identity_days as (
    select distinct event_date as day
    from row_keys
    where user_key in (select user_key from affected_keys)
),

first_given as (
    select user_key, min(event_date) as day
    from row_keys
    where event_date in (select day from given)
    group by user_key
),

first_other as (
    select user_key, min(event_date) as day
    from row_keys
    where event_date not in (select day from given)
      and user_key in (select user_key from first_given)
    group by user_key
),

moved_first_days as (
    select o.day
    from first_other as o
    inner join first_given as g on g.user_key = o.user_key
    where g.day < o.day
)

select day from given
union
select day from dup_days
union
select day from identity_days
union
select day from moved_first_days

{% endif %}
