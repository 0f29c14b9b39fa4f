{{ config(
    materialized='incremental',
    pre_hook="{{ eventlake.delete_changed_days('activity_date', 0, 1) }}",
    **eventlake.day_partitions('activity_date')
) }}
{#- Revenue per day and dimension combination: revenue (price * quantity in the reporting
    currency), purchases, purchasers, active users (dau; user_days, the same count declared
    additive: over several days it counts user-days), ARPDAU (revenue / user-days) and ARPPU
    (revenue / purchasers). Over several rows the API recomputes the ratios from the
    aggregated parts (docs/metrics.md). -#}

select
    activity_date,
    platform,
    country,
    host_provider,
    sum(revenue) as revenue,
    sum(purchases) as purchases,
    sum(case when purchases > 0 then 1 else 0 end) as purchasers,
    count(*) as dau,
    count(*) as user_days,
    sum(revenue) / count(*) as arpdau,
    case
        when sum(case when purchases > 0 then 1 else 0 end) > 0
            then sum(revenue) / sum(case when purchases > 0 then 1 else 0 end)
    end as arppu
from {{ ref('int_user_days') }}
where {{ eventlake.changed_days_filter('activity_date', 0, 1) }}
group by activity_date, platform, country, host_provider
