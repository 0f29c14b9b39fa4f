{{ config(materialized='table') }}
{#-
  The sessions a run changes, below the day (docs/models.md, "Sessions below the day").

  When every day the run rebuilds is `rows_only` and every arriving message is new (no
  other copy: its stg_events row was only inserted), the sessions change only for the
  users with new events (`sessions_by_rows`). For each such user:

  - `appends`: all their new events come after the last event of their latest previous
    session (or they had none). Their earlier sessions cannot change; the new events are
    sessionized alone, the first one continuing the latest session when it follows it
    within the timeout: that session is replaced (same first event, later end, more
    events), and the others are new sessions.
  - otherwise (an event older than their latest event arrived): their sessions are
    recomputed from the start of the latest previous session that began at or before
    their oldest new event (every session, if none did) over their events from there
    (fct_events): no new event lies before it, so the gap that opened it stays.

  Rows: `change = 'delete'` for each previous session to remove (session_id, its day),
  `change = 'insert'` for each session to write, with fct_sessions' columns. fct_sessions
  applies them (its pre-hook deletes, its select inserts). Empty when the run does not
  qualify (fct_sessions then rebuilds whole days with their windows), on a full build and
  on Spark (whose insert overwrite replaces whole partitions). Reads the previous
  fct_sessions (previous_relation): fct_sessions runs after this model.
-#}
{%- set by_rows = eventlake.sessions_by_rows() -%}
{%- set previous = eventlake.previous_relation('fct_sessions') -%}
{%- set rows_days = eventlake.rebuilt_day_list(rows_only=true) or [] if by_rows else [] -%}
{#- the day before the first rebuilt day: older sessions are read only where needed -#}
{%- set bound = (modules.datetime.date.fromisoformat(rows_days[0])
    - modules.datetime.timedelta(days=1)).isoformat() if rows_days else none -%}
-- depends_on: {{ ref('int_changed_days') }}
-- depends_on: {{ ref('stg_events') }}
-- depends_on: {{ ref('fct_events') }}

{% if by_rows and previous is not none %}

with new_events as (
    select user_key, message_id, event_at, event_date, platform, country, host_provider
    from {{ ref('fct_events') }}
    where {{ eventlake.in_days('event_date', rows_days) }}
      and message_id in ({{ eventlake.arrived_message_ids() }})
      {{- eventlake.arrival_time_bound('received_at') }}
),

touched as (
    select user_key, min(event_at) as first_new_at
    from new_events
    group by user_key
),

-- Their previous sessions: those from the day before the first rebuilt day on (a live
-- user's latest session, and the one to restart from, lie there), and every older one
-- only for the users with no session there that starts before their first new event.
recent_sessions as (
    select
        session_id, user_key, session_start_at, session_end_at, session_date, event_count,
        platform, country, host_provider
    from {{ previous }}
    where session_date >= {{ eventlake.date_literal(bound) }}
      and user_key in (select user_key from touched)
),

reaching_back as (
    select t.user_key
    from touched as t
    where not exists (
        select 1 from recent_sessions as s
        where s.user_key = t.user_key and s.session_start_at <= t.first_new_at
    )
),

old_sessions as (
    select * from recent_sessions
    union all
    select
        session_id, user_key, session_start_at, session_end_at, session_date, event_count,
        platform, country, host_provider
    from {{ previous }}
    where session_date < {{ eventlake.date_literal(bound) }}
      and user_key in (select user_key from reaching_back)
),

-- a user's sessions are disjoint in time: the latest start is one session, ending last
latest_start as (
    select user_key, max(session_start_at) as session_start_at
    from old_sessions
    group by user_key
),

latest as (
    select s.*
    from old_sessions as s
    inner join latest_start as l
        on l.user_key = s.user_key and l.session_start_at = s.session_start_at
),

modes as (
    select
        t.user_key,
        t.first_new_at,
        l.session_id as last_id,
        l.session_start_at as last_start,
        l.session_end_at as last_end,
        l.session_date as last_date,
        l.event_count as last_count,
        l.platform as last_platform,
        l.country as last_country,
        l.host_provider as last_host_provider,
        case when l.user_key is null or t.first_new_at > l.session_end_at then 1 else 0 end
            as appends
    from touched as t
    left join latest as l on l.user_key = t.user_key
),

-- appending users: the new events alone, the first one after the latest session's end
appended as (
    select
        e.*,
        m.last_end,
        lag(e.event_at) over (
            partition by e.user_key order by e.event_at, e.message_id
        ) as previous_at
    from new_events as e
    inner join modes as m on m.user_key = e.user_key
    where m.appends = 1
),

-- users whose new events reach back before their latest event: from where it can change
restarting as (
    select user_key, first_new_at from modes where appends = 0
),

restart_from as (
    select
        m.user_key,
        max(s.session_start_at) as restart_at,
        max(s.session_date) as restart_date
    from restarting as m
    left join (
        select user_key, session_start_at, session_date
        from old_sessions
        where user_key in (select user_key from restarting)
    ) as s
        on s.user_key = m.user_key and s.session_start_at <= m.first_new_at
    group by m.user_key
),

-- their events from the restart point: of the recent days only when it lies there
restart_events as (
    select
        e.user_key, e.message_id, e.event_at, e.event_date, e.platform, e.country,
        e.host_provider
    from {{ ref('fct_events') }} as e
    inner join restart_from as r on r.user_key = e.user_key
    where e.event_date >= {{ eventlake.date_literal(bound) }}
      and r.restart_date >= {{ eventlake.date_literal(bound) }}
      and e.event_at >= r.restart_at
    union all
    select
        e.user_key, e.message_id, e.event_at, e.event_date, e.platform, e.country,
        e.host_provider
    from {{ ref('fct_events') }} as e
    inner join restart_from as r on r.user_key = e.user_key
    where (r.restart_date is null or r.restart_date < {{ eventlake.date_literal(bound) }})
      and (r.restart_at is null or e.event_at >= r.restart_at)
),

restarted as (
    select
        *,
        case when 1 = 0 then event_at end as last_end,
        lag(event_at) over (
            partition by user_key order by event_at, message_id
        ) as previous_at
    from restart_events
),

gaps as (
    select
        user_key, message_id, event_at, event_date, platform, country, host_provider,
        last_end, previous_at
    from appended
    union all
    select
        user_key, message_id, event_at, event_date, platform, country, host_provider,
        last_end, previous_at
    from restarted
),

{{ eventlake.session_ctes('gaps', 'coalesce(previous_at, last_end)') }},

-- the latest session of an appending user, continued by its first new events
continued as (
    select
        m.last_id as session_id,
        m.user_key,
        m.last_start as session_start_at,
        s.session_end_at,
        m.last_date as session_date,
        m.last_count + s.event_count as event_count,
        m.last_platform as platform,
        m.last_country as country,
        m.last_host_provider as host_provider
    from sessions as s
    inner join modes as m on m.user_key = s.user_key
    where s.session_number = 0
)

select
    'insert' as change,
    session_id, user_key, session_start_at, session_end_at, session_date, event_count,
    platform, country, host_provider
from session_rows
union all
select
    'insert' as change,
    session_id, user_key, session_start_at, session_end_at, session_date, event_count,
    platform, country, host_provider
from continued
union all
select
    'delete' as change,
    session_id, user_key, session_start_at, session_end_at, session_date, event_count,
    platform, country, host_provider
from continued
union all
select
    'delete' as change,
    s.session_id, s.user_key, s.session_start_at, s.session_end_at, s.session_date,
    s.event_count, s.platform, s.country, s.host_provider
from old_sessions as s
inner join restart_from as r on r.user_key = s.user_key
where r.restart_at is null or s.session_start_at >= r.restart_at

{% else %}

select
    cast(null as {{ dbt.type_string() }}) as change,
    cast(null as {{ dbt.type_string() }}) as session_id,
    cast(null as {{ dbt.type_string() }}) as user_key,
    cast(null as {{ dbt.type_timestamp() }}) as session_start_at,
    cast(null as {{ dbt.type_timestamp() }}) as session_end_at,
    cast(null as date) as session_date,
    cast(null as {{ dbt.type_bigint() }}) as event_count,
    cast(null as {{ dbt.type_string() }}) as platform,
    cast(null as {{ dbt.type_string() }}) as country,
    cast(null as {{ dbt.type_string() }}) as host_provider
where 1 = 0

{% endif %}
