{#-
  Sessionization shared by fct_sessions (whole days) and int_session_changes (the users
  with new events): one rule, written once.

  `session_ctes(gaps, previous_at)` is the CTEs `starts`, `numbered`, `sessions`, `firsts`
  and `session_rows` over the CTE `gaps` (user_key, message_id, event_at, event_date, platform,
  country, host_provider, and the columns `previous_at` reads: the time of the user's
  event before each one). An event starts a session when it has no event before it or
  follows it by more than var('session_timeout_minutes') (30 by default); the events of a
  user ordered by (event_at, message_id) are numbered by session; `sessions` has each
  session's first and last time and event count, `firsts` its first event, and
  `session_rows` each session with fct_sessions' columns but the duration.
-#}
{% macro session_ctes(gaps, previous_at='previous_at') -%}
{%- set timeout_seconds = var('session_timeout_minutes', 30) | int * 60 -%}
starts as (
    select
        *,
        case
            when {{ previous_at }} is null then 1
            when {{ dbt.datediff(previous_at, 'event_at', 'second') }} > {{ timeout_seconds }}
                then 1
            else 0
        end as is_start
    from {{ gaps }}
),

numbered as (
    select
        *,
        sum(is_start) over (
            partition by user_key order by event_at, message_id
            rows between unbounded preceding and current row
        ) as session_number
    from starts
),

sessions as (
    select
        user_key,
        session_number,
        min(event_at) as session_start_at,
        max(event_at) as session_end_at,
        count(*) as event_count
    from numbered
    group by user_key, session_number
),

firsts as (
    select user_key, session_number, message_id, event_date, platform, country, host_provider
    from numbered
    where is_start = 1
),

session_rows as (
    select
        f.message_id as session_id,
        s.user_key,
        s.session_start_at,
        s.session_end_at,
        f.event_date as session_date,
        s.event_count,
        f.platform,
        f.country,
        f.host_provider
    from sessions as s
    inner join firsts as f
        on f.user_key = s.user_key and f.session_number = s.session_number
)
{%- endmacro %}
