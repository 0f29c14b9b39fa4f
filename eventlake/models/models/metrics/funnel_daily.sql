{{ config(
    materialized='incremental',
    pre_hook="{{ eventlake.delete_changed_days('activity_date', 0, 1) }}",
    **eventlake.day_partitions('activity_date')
) }}
{#- The day's funnel per dimension combination: active users; users who started a session;
    of those, users who completed a level; of those, users who bought something (each step
    a subset of the one before, all on the same day). -#}

select
    activity_date,
    platform,
    country,
    host_provider,
    count(*) as active_users,
    sum(case when sessions > 0 then 1 else 0 end) as session_users,
    sum(case when sessions > 0 and levels_completed > 0 then 1 else 0 end)
        as level_completed_users,
    sum(case when sessions > 0 and levels_completed > 0 and purchases > 0 then 1 else 0 end)
        as purchase_users
from {{ ref('int_user_days') }}
where {{ eventlake.changed_days_filter('activity_date', 0, 1) }}
group by activity_date, platform, country, host_provider
