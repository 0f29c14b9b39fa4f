{#-
  The days an incremental run rebuilds: var('changed_days') (the given days: lake
  partitions with new rows) plus every other day whose results they can change:
  - days holding another copy of a messageId that arrived on a given day (which copy is
    the first arrival can move): `messages_changed`, the days whose stg_events rows are
    merged again;
  - every day of a user whose identity component changed (int_identity_changes: a new link
    merged it with another, so stitching re-attributes their old events), read from the
    previous build's int_user_days under the user_key the previous map gave them;
  - the previous first-seen day of a user whose first event moved earlier, or whose
    component changed (new_users), read from the previous build's dim_users; and every
    day of a user whose first-seen day holds an older copy of an arriving messageId (if
    the new copy wins, their first event moves to a later day, unknown yet).
  `rows_only`: the day is here only through the first rule and the run knows which rows
  arrived (var new_rows): its stg_events rows changed only for the arriving messageIds,
  and no user of the day changed identity, so the row-level facts (fct_purchases,
  fct_guild_joins, conversion_funnel; fct_events is a view of stg_events) replace only those messages' rows there
  (changed_rows_filter), not the day; per-day aggregates still rebuild it whole.
  `messages_new` (the same on every row): the run knows its new rows and every copy of
  each arriving message is among them, so no message had a row before: the row-level
  facts only insert, which `sessions_by_rows` and DuckDB's generation log rely on.
  changed_days null, or no previous build: every day (a full rebuild); an empty list: no
  day. Only the first rule reads history (a probe of raw.events' messageIds); the other
  two read per-user tables.
-#}
{%- set days = eventlake.given_days() -%}
{%- set old_user_days = eventlake.previous_relation('int_user_days') -%}
{%- set old_users = eventlake.previous_relation('dim_users') -%}
-- depends_on: {{ ref('int_identity_changes') }}
-- depends_on: {{ ref('int_identity_map') }}

{% if days is none or old_user_days is none or old_users is none %}

select distinct event_date as day, true as messages_changed, false as rows_only,
    false as messages_new,
    (select min(received_at) from {{ source('raw', 'events') }} where 1 = 0) as arrived_since
from {{ source('raw', 'events') }}

{% elif days | length == 0 %}

select cast(null as date) as day, true as messages_changed, false as rows_only,
    false as messages_new,
    (select min(received_at) from {{ source('raw', 'events') }} where 1 = 0) as arrived_since
from {{ source('raw', 'events') }}
where 1 = 0

{% else %}

with given_rows as (
    -- the rows this run brought (var new_rows), else every row of the given days
    select message_id, event_date, user_id, anonymous_id, received_at
    from {{ source('raw', 'events') }}
    where {{ eventlake.arrived_rows_filter('event_date') }}
),

copies as (
    select message_id, event_date, user_id, anonymous_id
    from {{ source('raw', 'events') }}
    where message_id in (select message_id from given_rows)
),

-- arriving messages with a copy that did not arrive in this run: they had a row before
replaced as (
    select count(*) as messages
    from (select message_id, count(*) as n from copies group by message_id) as c
    inner join (select message_id, count(*) as n from given_rows group by message_id) as a
        on a.message_id = c.message_id
    where c.n > a.n
),

copy_days as (
    select distinct event_date as day from copies
),

touched_keys as (
    select distinct old_user_key as user_key
    from {{ ref('int_identity_changes') }}
    where old_user_key is not null
),

identity_days as (
    select distinct activity_date as day
    from {{ old_user_days }}
    where user_key in (select user_key from touched_keys)
),

given_firsts as (
    select m.user_key, min(r.event_date) as day
    from given_rows as r
    inner join {{ ref('int_identity_map') }} as m
        on m.node = {{ eventlake.attribution_node('r.user_id', 'r.anonymous_id') }}
    group by m.user_key
),

moved_first_days as (
    select u.first_seen_date as day
    from {{ old_users }} as u
    inner join given_firsts as g on g.user_key = u.user_key
    where g.day < u.first_seen_date
    union
    select first_seen_date as day
    from {{ old_users }}
    where user_key in (select user_key from touched_keys)
),

first_day_copies as (
    select distinct m.user_key
    from copies as c
    inner join {{ ref('int_identity_map') }} as m
        on m.node = {{ eventlake.attribution_node('c.user_id', 'c.anonymous_id') }}
    inner join {{ old_users }} as u
        on u.user_key = m.user_key and u.first_seen_date = c.event_date
    where not ({{ eventlake.in_days('c.event_date', days) }})
),

moved_later_days as (
    select distinct activity_date as day
    from {{ old_user_days }}
    where user_key in (select user_key from first_day_copies)
),

all_days as (
    {%- for d in days %}
    select {{ eventlake.date_literal(d) }} as day, 1 as messages_changed, 1 as by_rows
    union all
    {%- endfor %}
    select day, 1 as messages_changed, 1 as by_rows from copy_days
    union all
    select day, 0 as messages_changed, 0 as by_rows from identity_days
    union all
    select day, 0 as messages_changed, 0 as by_rows from moved_first_days
    union all
    select day, 0 as messages_changed, 0 as by_rows from moved_later_days
)

select
    day,
    max(messages_changed) = 1 as messages_changed,
    {%- if var('new_rows', none) is none %}
    false as rows_only,
    false as messages_new,
    (select min(received_at) from {{ source('raw', 'events') }} where 1 = 0) as arrived_since
    {%- else %}
    min(by_rows) = 1 as rows_only,
    (select messages = 0 from replaced) as messages_new,
    -- the earliest arrival among the rows brought (null if one has none): arrival_time_bound
    (select case when count(*) = count(received_at) then min(received_at) end
        from given_rows) as arrived_since
    {%- endif %}
from all_days
where day is not null
group by day

{% endif %}
