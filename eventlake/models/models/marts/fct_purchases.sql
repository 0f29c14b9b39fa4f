{{ config(
    materialized='incremental',
    pre_hook="{{ eventlake.delete_changed_rows('purchase_date', 'purchase_id') }}",
    **eventlake.day_partitions('purchase_date')
) }}
{#- One row per Item Purchased event. revenue_original = price * quantity (quantity defaults
    to 1) in the purchase's currency; revenue = the same amount in the reporting currency
    (var reporting_currency), at the rates in force on the purchase day
    (int_exchange_rates, from seeds/exchange_rates.csv): exchange_rate = reporting currency
    units per unit of the purchase's currency. Money is a fixed-point numeric, so sums are
    exact and do not depend on the order rows are added in. A purchase without a currency
    is taken as US dollars; a currency without any rate leaves exchange_rate null, which
    fails the row checks with the currency named. -#}

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
      and {{ eventlake.changed_rows_filter('event_date', 'message_id', 'received_at') }}
),

rates as (
    select * from {{ ref('int_exchange_rates') }}
)

select
    p.message_id as purchase_id,
    p.user_key,
    p.event_at as purchased_at,
    p.event_date as purchase_date,
    p.item,
    p.price,
    p.currency,
    p.quantity,
    coalesce(p.price, 0) * p.quantity as revenue_original,
    cast(r.usd_per_unit / rr.usd_per_unit as {{ eventlake.type_double() }}) as exchange_rate,
    cast(
        coalesce(p.price, 0) * p.quantity * r.usd_per_unit / rr.usd_per_unit
        as {{ dbt.type_numeric() }}
    ) as revenue,
    '{{ eventlake.reporting_currency() }}' as reporting_currency,
    p.platform,
    p.country,
    p.host_provider,
    p.source
from purchases as p
left join rates as r
    -- no currency sent: US dollars, as Segment's e-commerce destinations assume
    on r.currency = coalesce(upper(nullif(p.currency, '')), 'USD')
    and p.event_date >= r.valid_from and p.event_date < r.valid_to
left join rates as rr
    on rr.currency = '{{ eventlake.reporting_currency() }}'
    and p.event_date >= rr.valid_from and p.event_date < rr.valid_to
