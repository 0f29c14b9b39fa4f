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

-- every calendar day from the first to the last day of data, active or not: a day
-- without activity still has users in its windows (a complete series)
bounds as (
    select min(activity_date) as first_day, max(activity_date) as last_day from user_days
),

metric_days as (
    select d.date_day as metric_date
    from {{ ref('dim_date') }} as d
    inner join bounds as b on d.date_day >= b.first_day and d.date_day <= b.last_day
    where ({{ eventlake.changed_days_filter('d.date_day', 0, 28) }}
        {%- if is_incremental() %}
        -- days never built (past the previous last day of data, or with nobody in the
        -- window then): a full rebuild builds them too
        or d.date_day not in (select activity_date from {{ this }})
        {%- endif %})
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
