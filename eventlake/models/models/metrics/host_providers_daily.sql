{{ config(
    materialized='incremental',
    pre_hook="{{ eventlake.delete_changed_days('activity_date', 0, 1) }}",
    **eventlake.day_partitions('activity_date')
) }}
{#- Activity per day and Internet host provider (a user-day belongs to the provider of its
    first event): active users, sessions, events, revenue. -#}

select
    activity_date,
    host_provider,
    count(*) as active_users,
    sum(sessions) as sessions,
    sum(events) as events,
    sum(revenue) as revenue
from {{ ref('int_user_days') }}
where {{ eventlake.changed_days_filter('activity_date', 0, 1) }}
group by activity_date, host_provider
