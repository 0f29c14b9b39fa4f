{#- Dialect differences the dbt cross-database macros do not cover, dispatched per adapter. -#}

{#- The text at a dotted path ('os.name') of a JSON text column; null when absent. -#}
{% macro json_text(column, path) -%}
    {{ return(adapter.dispatch('json_text', 'eventlake')(column, path)) }}
{%- endmacro %}

{% macro default__json_text(column, path) -%}
    json_extract_string({{ column }}, '$.{{ path }}')
{%- endmacro %}

{% macro postgres__json_text(column, path) -%}
    (cast({{ column }} as json) #>> '{ {{- path.split('.') | join(',') -}} }')
{%- endmacro %}

{% macro spark__json_text(column, path) -%}
    get_json_object({{ column }}, '$.{{ path }}')
{%- endmacro %}

{#- ISO day of week: Monday = 1 ... Sunday = 7. -#}
{% macro iso_day_of_week(expr) -%}
    {{ return(adapter.dispatch('iso_day_of_week', 'eventlake')(expr)) }}
{%- endmacro %}

{% macro default__iso_day_of_week(expr) -%}
    cast(extract(isodow from {{ expr }}) as {{ dbt.type_int() }})
{%- endmacro %}

{% macro spark__iso_day_of_week(expr) -%}
    cast(((dayofweek({{ expr }}) + 5) % 7) + 1 as int)
{%- endmacro %}

{#- A date shifted by a whole number of days, as a DATE on every adapter. -#}
{% macro add_days(expr, days) -%}
    cast({{ dbt.dateadd('day', days, expr) }} as date)
{%- endmacro %}

{#- The SQL type of a tracking-plan property type. -#}
{% macro plan_sql_type(plan_type) -%}
    {%- if plan_type == 'integer' -%}{{ dbt.type_bigint() }}
    {%- elif plan_type == 'number' -%}{{ eventlake.type_double() }}
    {%- elif plan_type == 'boolean' -%}{{ dbt.type_boolean() }}
    {%- elif plan_type == 'timestamp' -%}{{ dbt.type_timestamp() }}
    {%- else -%}{{ dbt.type_string() }}
    {%- endif -%}
{%- endmacro %}

{#- A 64-bit float (dbt.type_float() is single precision on DuckDB). -#}
{% macro type_double() -%}
    {{ return(adapter.dispatch('type_double', 'eventlake')()) }}
{%- endmacro %}

{% macro default__type_double() -%}double precision{%- endmacro %}

{% macro spark__type_double() -%}double{%- endmacro %}

{#- The reporting currency (var reporting_currency): three upper-case letters, checked here
    because it is written into the SQL as a literal. -#}
{% macro reporting_currency() -%}
    {%- set code = var('reporting_currency', 'USD') | string -%}
    {%- if not modules.re.match('^[A-Z]{3}$', code) -%}
        {{ exceptions.raise_compiler_error(
            "reporting_currency must be an ISO 4217 code such as USD, got " ~ code) }}
    {%- endif -%}
    {{ return(code) }}
{%- endmacro %}
