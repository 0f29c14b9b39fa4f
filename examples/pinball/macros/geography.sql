{#- Where a postal code is: the country's name and ISO-3 code (seed countries), and for a US
    ZIP code its state and metro area (seeds zip_codes, metro_areas). Joins for a FROM
    clause whose row alias is `row`; the columns come from geography_columns(). Outside the
    US, the country only. -#}
{% macro geography_joins(row) -%}
    left join {{ ref('countries') }} as geo_country
        on geo_country.country_code = {{ row }}.country_code
    left join {{ ref('zip_codes') }} as geo_zip
        on {{ row }}.country_code = 'US'
        and geo_zip.zip = substring({{ row }}.postal_code, 1, 5)
    left join {{ ref('metro_areas') }} as geo_metro
        on geo_metro.metro_code = geo_zip.metro_code
{%- endmacro %}

{% macro geography_columns() -%}
    coalesce(geo_country.country, 'Unknown') as country,
    geo_country.iso3 as country_iso3,
    geo_zip.state as state,
    geo_metro.metro_code as metro_code,
    geo_metro.metro as metro
{%- endmacro %}

{#- The first day of the month `expr` falls in, as a DATE. -#}
{% macro month_of(expr) -%}
    cast({{ dbt.date_trunc('month', expr) }} as date)
{%- endmacro %}

{#- Rows of `results` (with an event_month column) paired with every month of `months`
    whose rolling 48-month window holds them: the 48 months ending with that month. -#}
{% macro in_48_months(month, event_month) -%}
    {{ event_month }} <= {{ month }}
    and {{ event_month }} > {{ dbt.dateadd('month', -48, month) }}
{%- endmacro %}
