{{ config(
    materialized='incremental',
    pre_hook="{{ eventlake.delete_changed_days('purchase_date') }}",
    **eventlake.day_partitions('purchase_date')
) }}
{#- Purchases per day, item and dimension combination: purchases, units, revenue (price *
    quantity at face value across currencies) and distinct purchasers. -#}

select
    purchase_date,
    item,
    platform,
    country,
    host_provider,
    count(*) as purchases,
    sum(quantity) as units,
    sum(revenue) as revenue,
    count(distinct user_key) as purchasers
from {{ ref('fct_purchases') }}
where {{ eventlake.changed_days_filter('purchase_date') }}
group by purchase_date, item, platform, country, host_provider
