{{ config(materialized='incremental', incremental_strategy='append') }}
{#- The calendar: one row per day from var('calendar_start') to var('calendar_end'), both
    included (dbt's cross-database date_spine excludes its end, so it is given the day
    after). Weeks start on Monday. Built once and kept (a later run adds nothing);
    --full-refresh regenerates it. -#}
{% if is_incremental() %}
select * from {{ this }} where 1 = 0
{% else %}

with spine as (
    {{ dbt.date_spine(
        'day',
        "cast('" ~ var('calendar_start') ~ "' as date)",
        eventlake.add_days("cast('" ~ var('calendar_end') ~ "' as date)", 1)
    ) }}
),

days as (
    select cast(date_day as date) as date_day from spine
)

select
    date_day,
    cast(extract(year from date_day) as {{ dbt.type_int() }}) as year,
    cast(extract(month from date_day) as {{ dbt.type_int() }}) as month,
    cast(extract(day from date_day) as {{ dbt.type_int() }}) as day_of_month,
    {{ eventlake.iso_day_of_week('date_day') }} as day_of_week,
    cast({{ dbt.date_trunc('week', 'date_day') }} as date) as week_start,
    cast({{ dbt.date_trunc('month', 'date_day') }} as date) as month_start,
    case
        when date_day = cast({{ dbt.last_day('date_day', 'month') }} as date) then true
        else false
    end as is_last_day_of_month
from days
{% endif %}
