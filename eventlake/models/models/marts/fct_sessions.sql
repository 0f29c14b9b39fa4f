{{ config(
    materialized='incremental',
    pre_hook="{{ eventlake.delete_changed_sessions() }}",
    **eventlake.day_partitions('session_date')
) }}
{#-
  One row per session: a user's events with no gap longer than var('session_timeout_minutes')
  (30 by default). A session belongs to the day it starts. An incremental run rebuilds the
  sessions starting on a changed day or either neighbour (a session can cross midnight)
  from the events of two more days on each side; a session spanning more than two
  midnights is the only case this window does not see whole.
-#}
-- depends_on: {{ ref('int_session_changes') }}
{% set by_changes = eventlake.session_changes_apply() %}
{%- if by_changes %}
-- only the sessions of users with new events change: int_session_changes has them
with session_rows as (
    select * from {{ ref('int_session_changes') }} where change = 'insert'
)
{%- else %}

with events as (
    select user_key, message_id, event_at, event_date, platform, country, host_provider
    from {{ ref('fct_events') }}
    where {{ eventlake.changed_days_filter('event_date', 2, 2) }}
),

gaps as (
    select
        *,
        lag(event_at) over (partition by user_key order by event_at, message_id) as previous_at
    from events
),

{{ eventlake.session_ctes('gaps') }}
{%- endif %}

select
    session_id,
    user_key,
    session_start_at,
    session_end_at,
    session_date,
    {{ dbt.datediff('session_start_at', 'session_end_at', 'second') }} as duration_seconds,
    event_count,
    platform,
    country,
    host_provider
from session_rows
{%- if not by_changes %}
where {{ eventlake.changed_days_filter('session_date', 1, 1) }}
{%- endif %}
-- clustered by day: later runs' day filters skip the other days' row groups
order by session_date
