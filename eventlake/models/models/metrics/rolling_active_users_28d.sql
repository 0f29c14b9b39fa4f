{{ config(
    materialized='incremental',
    pre_hook="{{ eventlake.delete_changed_days('activity_date', 0, 28) }}",
    **eventlake.day_partitions('activity_date')
) }}
{#-
  Active users over the trailing 28 days (the day and the 27 before it), per day and
  dimension combination; a user counts once, in the combination of their latest active
  day in the window. A changed day changes the 28 windows that contain it.
-#}

with user_days as (
    select * from {{ ref('int_user_days') }}
),

metric_days as (
    select distinct activity_date as metric_date
    from user_days
    where {{ eventlake.changed_days_filter('activity_date', 0, 28) }}
),

per_user as (
    select m.metric_date, u.user_key, max(u.activity_date) as last_active
    from metric_days as m
    inner join user_days as u
        on u.activity_date <= m.metric_date
        and u.activity_date >= {{ eventlake.add_days('m.metric_date', -27) }}
    group by m.metric_date, u.user_key
)

select
    p.metric_date as activity_date,
    u.platform,
    u.country,
    u.host_provider,
    count(*) as active_users_28d
from per_user as p
inner join user_days as u on u.user_key = p.user_key and u.activity_date = p.last_active
group by p.metric_date, u.platform, u.country, u.host_provider
