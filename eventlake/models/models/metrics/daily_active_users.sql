{{ config(
    materialized='incremental',
    pre_hook="{{ eventlake.delete_changed_days('activity_date', 0, 30) }}",
    **eventlake.day_partitions('activity_date')
) }}
{#-
  DAU, WAU (trailing 7 days), MAU (trailing 30 days) and new users (first seen that day) per
  day and dimension combination. A user counts once per window, in the combination of
  their latest active day in it, so every measure adds up across dimension values for a
  fixed day. A changed day changes the windows of the 30 days after it.
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
    where ({{ eventlake.changed_days_filter('d.date_day', 0, 30) }}
        {%- if is_incremental() %}
        -- days never built (past the previous last day of data, or with nobody in the
        -- window then): a full rebuild builds them too
        or d.date_day not in (select activity_date from {{ this }})
        {%- endif %})
),

in_window as (
    select m.metric_date, u.user_key, u.activity_date
    from metric_days as m
    inner join user_days as u
        on u.activity_date <= m.metric_date
        and u.activity_date >= {{ eventlake.add_days('m.metric_date', -29) }}
),

per_user as (
    select
        metric_date,
        user_key,
        max(activity_date) as last_30,
        max(
            case
                when activity_date >= {{ eventlake.add_days('metric_date', -6) }}
                    then activity_date
            end
        ) as last_7
    from in_window
    group by metric_date, user_key
),

flags as (
    select metric_date, user_key, metric_date as attr_date, 'dau' as measure
    from per_user where last_30 = metric_date
    union all
    select metric_date, user_key, last_7 as attr_date, 'wau' as measure
    from per_user where last_7 is not null
    union all
    select metric_date, user_key, last_30 as attr_date, 'mau' as measure
    from per_user
    union all
    select p.metric_date, p.user_key, p.metric_date as attr_date, 'new' as measure
    from per_user as p
    inner join {{ ref('dim_users') }} as d on d.user_key = p.user_key
    where d.first_seen_date = p.metric_date
)

select
    f.metric_date as activity_date,
    u.platform,
    u.country,
    u.host_provider,
    sum(case when f.measure = 'dau' then 1 else 0 end) as dau,
    sum(case when f.measure = 'wau' then 1 else 0 end) as wau,
    sum(case when f.measure = 'mau' then 1 else 0 end) as mau,
    sum(case when f.measure = 'new' then 1 else 0 end) as new_users
from flags as f
inner join user_days as u on u.user_key = f.user_key and u.activity_date = f.attr_date
group by f.metric_date, u.platform, u.country, u.host_provider
