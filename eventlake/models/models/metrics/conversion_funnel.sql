{{ config(
    materialized='incremental',
    pre_hook="{{ eventlake.delete_changed_rows('activity_date', 'message_id') }}",
    **eventlake.day_partitions('activity_date')
) }}
{#- The events of the play funnel, one row each: step 1 Session Started, step 2 Level
    Completed, step 3 Item Purchased, with the user, the time and the event's dimensions.
    The API counts the funnel from these rows at request time (an ordered funnel over a
    date range within a conversion window, see docs/metrics.md): the counts depend on the
    range and the window, so they cannot be stored per day. One row per messageId, like
    fct_events: on a `rows_only` day only the arriving messages' rows are rebuilt. -#}

select
    message_id,
    user_key,
    event_at,
    event_date as activity_date,
    case event_name
        when 'Session Started' then 1
        when 'Level Completed' then 2
        else 3
    end as step,
    platform,
    country,
    host_provider
from {{ ref('fct_events') }}
where event_type = 'track'
  and event_name in ('Session Started', 'Level Completed', 'Item Purchased')
  and {{ eventlake.changed_rows_filter('event_date', 'message_id', 'received_at') }}
-- clustered by day: a request's date range skips the other days' row groups
order by event_date
