{#- Weekly signup cohorts: users by the week (Monday) of their first event, and how many of
    them were active N weeks later (week 0 = the signup week). Rebuilt whole each run (it is
    small). -#}

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
    r.cohort_week,
    r.weeks_since_signup,
    s.cohort_users,
    r.retained_users,
    cast(r.retained_users as {{ eventlake.type_double() }}) / s.cohort_users as retention_rate
from retained as r
inner join cohort_sizes as s on s.cohort_week = r.cohort_week
