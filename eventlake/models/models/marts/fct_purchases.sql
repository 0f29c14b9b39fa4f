{{ config(
    materialized='incremental',
    pre_hook="{{ eventlake.delete_changed_days('purchase_date') }}",
    **eventlake.day_partitions('purchase_date')
) }}
{#- One row per Item Purchased event; revenue = price * quantity (quantity defaults to 1),
    in the purchase's currency (no exchange rates applied). Money is a fixed-point numeric,
    so sums are exact and do not depend on the order rows are added in. -#}

with purchases as (
    select
        message_id,
        user_key,
        event_at,
        event_date,
        platform,
        country,
        host_provider,
        source,
        {{ eventlake.json_text('properties', 'item') }} as item,
        cast({{ eventlake.json_text('properties', 'price') }} as {{ dbt.type_numeric() }}) as price,
        {{ eventlake.json_text('properties', 'currency') }} as currency,
        coalesce(
            cast({{ eventlake.json_text('properties', 'quantity') }} as {{ dbt.type_bigint() }}), 1
        ) as quantity
    from {{ ref('fct_events') }}
    where event_type = 'track' and event_name = 'Item Purchased'
      and {{ eventlake.changed_days_filter('event_date') }}
)

select
    message_id as purchase_id,
    user_key,
    event_at as purchased_at,
    event_date as purchase_date,
    item,
    price,
    currency,
    quantity,
    coalesce(price, 0) * quantity as revenue,
    platform,
    country,
    host_provider,
    source
from purchases
