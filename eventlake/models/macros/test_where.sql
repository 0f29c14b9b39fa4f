{#-
  The days an incremental run rebuilt, for data tests: `int_changed_days` widened by
  `before`/`after` days (the window of models such as fct_sessions, which rebuild the days
  around a changed one). Only meaningful when var('changed_days') is set.
-#}
{% macro rebuilt_days(before=0, after=0) -%}
    {%- if before == 0 and after == 0 -%}
        select day from staging.int_changed_days
    {%- else -%}
        {%- for shift in range(-before, after + 1) -%}
            select {{ eventlake.add_days('day', shift) }} as day from staging.int_changed_days
            {%- if not loop.last %} union {% endif -%}
        {%- endfor -%}
    {%- endif -%}
{%- endmacro %}

{#-
  Tests of the large incremental tables carry `where: "<day column> in (__changed_days__)"`
  (or `__changed_days_<before>_<after>__` for a model that rebuilds a window around each
  changed day, e.g. `__changed_days_1_1__`). On an incremental run (var changed_days set)
  they check only the days this run rebuilt; on a full build they check every row. (dbt
  renders `where` when it parses, so the placeholder is resolved here, when the test
  compiles.)
-#}
{% macro default__get_where_subquery(relation) -%}
    {%- set where = config.get('where', '') -%}
    {%- set marker = '__changed_days' -%}
    {%- if where and marker in where -%}
        {%- if var('changed_days', none) is none -%}
            {%- set where = '' -%}
        {%- else -%}
            {%- set parts = where.split(marker, 1) -%}
            {%- set rest = parts[1] -%}
            {%- if rest.startswith('__') -%}
                {%- set window = [0, 0] -%}
                {%- set tail = rest[2:] -%}
            {%- else -%}
                {%- set spec = rest[1:].split('__', 1) -%}
                {%- set window = spec[0].split('_') | map('int') | list -%}
                {%- set tail = spec[1] -%}
            {%- endif -%}
            {%- set where = parts[0] ~ eventlake.rebuilt_days(window[0], window[1]) ~ tail -%}
        {%- endif -%}
    {%- endif -%}
    {%- if where -%}
        {%- set filtered -%}
            (select * from {{ relation }} where {{ where }}) dbt_subquery
        {%- endset -%}
        {%- do return(filtered) -%}
    {%- else -%}
        {%- do return(relation) -%}
    {%- endif -%}
{%- endmacro %}
