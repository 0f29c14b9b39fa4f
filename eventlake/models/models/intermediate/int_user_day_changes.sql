{{ config(materialized='table') }}
{#-
  The user-days a run changes, below the day (docs/models.md, "User-days below the day").

  When fct_sessions applies int_session_changes (every day the run rebuilds is
  `rows_only` and every arriving message is new: its stg_events row was only inserted),
  a user-day changes only by the new events of that user and day, and by the sessions
  int_session_changes replaces. Its new row is the previous one plus their contribution:
  counts and sums add, the first and last times are the earlier and the later, and the
  attributes of the first event are the new first event's when it is earlier than the
  previous first. On a tie (a new event at the previous first time) the attributes are
  read again from fct_events for that user-day: the order is (event_at, message_id) and
  the previous row keeps no messageId.

  Rows: `change = 'delete'` with the previous row of each user-day that changes,
  `change = 'insert'` with its new row (int_user_days' columns). int_user_days applies
  them (its pre-hook deletes, its select inserts); its per-day metrics read the days
  they lie on as before. Every changed user-day lies on a day int_user_days' window
  rebuilds (a rows_only day or the day after it: docs/models.md). Empty when the run does
  not qualify (int_user_days then rebuilds whole days), on a full build and on Spark.
  Reads the previous int_user_days (previous_relation): int_user_days runs after this
  model.
-#}
{%- set previous = eventlake.previous_relation('int_user_days') -%}
{%- set by_rows = previous is not none and eventlake.changes_found('int_session_changes') -%}
{%- set rows_days = eventlake.rebuilt_day_list(rows_only=true) or [] if by_rows else [] -%}
-- depends_on: {{ ref('int_changed_days') }}
-- depends_on: {{ ref('int_session_changes') }}
-- depends_on: {{ ref('fct_events') }}
-- depends_on: {{ ref('fct_purchases') }}

{% if by_rows %}

-- read once (a semi-join of the day's rows with the arriving messageIds), used thrice
with new_events as materialized (
    select
        {{ eventlake.user_day_event_columns() }}
    from {{ ref('fct_events') }}
    where {{ eventlake.in_days('event_date', rows_days) }}
      and message_id in ({{ eventlake.arrived_message_ids() }})
      {{- eventlake.arrival_time_bound('received_at') }}
),

new_counts as (
    select
        user_key,
        event_date as activity_date,
        min(event_at) as first_event_at,
        max(event_at) as last_event_at,
        count(*) as events,
        sum(is_level_completed) as levels_completed,
        sum(is_guild_join) as guild_joins
    from new_events
    group by user_key, event_date
),

new_firsts as (
    select user_key, activity_date, platform, country, host_provider
    from (
        select
            user_key,
            event_date as activity_date,
            platform,
            country,
            host_provider,
            {{ eventlake.user_day_rank() }} as rn
        from new_events
    ) as ranked
    where rn = 1
),

new_purchases as (
    select user_key, purchase_date as activity_date, count(*) as purchases, sum(revenue) as revenue
    from {{ ref('fct_purchases') }}
    where {{ eventlake.in_days('purchase_date', rows_days) }}
      and purchase_id in ({{ eventlake.arrived_message_ids() }})
    group by user_key, purchase_date
),

-- sessions written minus sessions removed, per user and day they start on
new_sessions as (
    select
        user_key,
        session_date as activity_date,
        sum(case when change = 'insert' then 1 else -1 end) as sessions
    from {{ ref('int_session_changes') }}
    group by user_key, session_date
    having sum(case when change = 'insert' then 1 else -1 end) <> 0
),

changed as (
    select user_key, activity_date from new_counts
    union
    select user_key, activity_date from new_sessions
),

old as (
    select o.*
    from {{ previous }} as o
    inner join changed as c on c.user_key = o.user_key and c.activity_date = o.activity_date
),

merged as materialized (
    select
        c.user_key,
        c.activity_date,
        case
            when o.user_key is null or n.first_event_at < o.first_event_at then 'new'
            when n.first_event_at = o.first_event_at then 'tie'
            else 'old'
        end as first_from,
        o.platform as old_platform,
        o.country as old_country,
        o.host_provider as old_host_provider,
        case
            when o.first_event_at is null or n.first_event_at < o.first_event_at
                then n.first_event_at
            else o.first_event_at
        end as first_event_at,
        case
            when o.last_event_at is null or n.last_event_at > o.last_event_at
                then n.last_event_at
            else o.last_event_at
        end as last_event_at,
        coalesce(o.events, 0) + coalesce(n.events, 0) as events,
        -- count(*) in int_user_days: a bigint, where a sum may be wider (DuckDB's hugeint)
        cast(coalesce(o.sessions, 0) + coalesce(s.sessions, 0) as {{ dbt.type_bigint() }})
            as sessions,
        coalesce(o.levels_completed, 0) + coalesce(n.levels_completed, 0) as levels_completed,
        coalesce(o.guild_joins, 0) + coalesce(n.guild_joins, 0) as guild_joins,
        coalesce(o.purchases, 0) + coalesce(p.purchases, 0) as purchases,
        coalesce(o.revenue, 0) + coalesce(p.revenue, 0) as revenue
    from changed as c
    left join old as o on o.user_key = c.user_key and o.activity_date = c.activity_date
    left join new_counts as n on n.user_key = c.user_key and n.activity_date = c.activity_date
    left join new_purchases as p
        on p.user_key = c.user_key and p.activity_date = c.activity_date
    left join new_sessions as s on s.user_key = c.user_key and s.activity_date = c.activity_date
),

-- a new event at the previous first time: the first event read again (rare)
tied_firsts as (
    select user_key, activity_date, platform, country, host_provider
    from (
        select
            e.user_key,
            e.event_date as activity_date,
            e.platform,
            e.country,
            e.host_provider,
            {{ eventlake.user_day_rank('e.') }} as rn
        from {{ ref('fct_events') }} as e
        inner join merged as m
            on m.user_key = e.user_key and m.activity_date = e.event_date
        where {{ eventlake.in_days('e.event_date', rows_days) }}
          and m.first_from = 'tie'
    ) as ranked
    where rn = 1
)

select
    'delete' as change,
    user_key, activity_date, platform, country, host_provider, first_event_at, last_event_at,
    events, sessions, levels_completed, guild_joins, purchases, revenue
from old
union all
select
    'insert' as change,
    m.user_key,
    m.activity_date,
    case m.first_from when 'new' then f.platform when 'tie' then t.platform
        else m.old_platform end as platform,
    case m.first_from when 'new' then f.country when 'tie' then t.country
        else m.old_country end as country,
    case m.first_from when 'new' then f.host_provider when 'tie' then t.host_provider
        else m.old_host_provider end as host_provider,
    m.first_event_at,
    m.last_event_at,
    m.events,
    m.sessions,
    m.levels_completed,
    m.guild_joins,
    m.purchases,
    m.revenue
from merged as m
left join new_firsts as f on f.user_key = m.user_key and f.activity_date = m.activity_date
left join tied_firsts as t on t.user_key = m.user_key and t.activity_date = m.activity_date

{% else %}

select
    cast(null as {{ dbt.type_string() }}) as change,
    cast(null as {{ dbt.type_string() }}) as user_key,
    cast(null as date) as activity_date,
    cast(null as {{ dbt.type_string() }}) as platform,
    cast(null as {{ dbt.type_string() }}) as country,
    cast(null as {{ dbt.type_string() }}) as host_provider,
    cast(null as {{ dbt.type_timestamp() }}) as first_event_at,
    cast(null as {{ dbt.type_timestamp() }}) as last_event_at,
    cast(null as {{ dbt.type_bigint() }}) as events,
    cast(null as {{ dbt.type_bigint() }}) as sessions,
    cast(null as {{ dbt.type_bigint() }}) as levels_completed,
    cast(null as {{ dbt.type_bigint() }}) as guild_joins,
    cast(null as {{ dbt.type_bigint() }}) as purchases,
    cast(null as {{ dbt.type_numeric() }}) as revenue
where 1 = 0

{% endif %}
