{#- The exchange-rate seed as validity ranges: each dated rate holds from its date until the
    next one of the same currency. The first rate of a currency also covers every earlier
    day and the last one every later day, so a purchase always finds the rate in force (or
    the nearest one). Rebuilt whole each run (a few hundred rows). -#}

with rates as (
    select
        upper(currency) as currency,
        cast(rate_date as date) as rate_date,
        usd_per_unit,
        row_number() over (partition by upper(currency) order by rate_date) as rn,
        lead(cast(rate_date as date)) over (partition by upper(currency) order by rate_date)
            as next_date
    from {{ ref('exchange_rates') }}
)

select
    currency,
    case when rn = 1 then cast('1900-01-01' as date) else rate_date end as valid_from,
    coalesce(next_date, cast('9999-12-31' as date)) as valid_to,
    rate_date,
    usd_per_unit
from rates
