{#- Weekly signup cohorts: users by the week (Monday) of their first event, and how many of
    them were active N weeks later (week 0 = the signup week). Every cohort has a row for
    every week from its signup week to the last week of data, 0 when nobody came back, so
    cohorts add up for a given week. Rebuilt whole each run (it is small). -#}

with cohorts as (
    select
        user_key,
        cast({{ dbt.date_trunc('week', 'first_seen_date') }} as date) as cohort_week
    from {{ ref('dim_users') }}
),

cohort_sizes as (
    select cohort_week, count(*) as cohort_users from cohorts group by cohort_week
),

active_weeks as (
    select distinct
        user_key,
        cast({{ dbt.date_trunc('week', 'activity_date') }} as date) as activity_week
    from {{ ref('int_user_days') }}
),

weeks as (
    select distinct d.week_start
    from {{ ref('dim_date') }} as d
    inner join (
        select min(activity_date) as first_day, max(activity_date) as last_day
        from {{ ref('int_user_days') }}
    ) as b on d.date_day >= b.first_day and d.date_day <= b.last_day
),

grid as (
    select
        s.cohort_week,
        cast({{ dbt.datediff('s.cohort_week', 'w.week_start', 'day') }} / 7 as {{ dbt.type_int() }})
            as weeks_since_signup,
        s.cohort_users
    from cohort_sizes as s
    inner join weeks as w on w.week_start >= s.cohort_week
),

retained as (
    select
        c.cohort_week,
        cast({{ dbt.datediff('c.cohort_week', 'a.activity_week', 'day') }} / 7 as {{ dbt.type_int() }})
            as weeks_since_signup,
        count(*) as retained_users
    from cohorts as c
    inner join active_weeks as a on a.user_key = c.user_key
    group by 1, 2
)

select
    g.cohort_week,
    g.weeks_since_signup,
    g.cohort_users,
    coalesce(r.retained_users, 0) as retained_users,
    cast(coalesce(r.retained_users, 0) as {{ eventlake.type_double() }}) / g.cohort_users
        as retention_rate
from grid as g
left join retained as r
    on r.cohort_week = g.cohort_week and r.weeks_since_signup = g.weeks_since_signup
