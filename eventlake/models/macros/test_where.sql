{#-
  Tests of the large incremental tables carry `where: "<day column> in (__changed_days__)"`.
  On an incremental run (var changed_days set) they check only the days this run rebuilt;
  on a full build they check every row. (dbt renders `where` when it parses, so the
  placeholder is resolved here, when the test compiles.)
-#}
{% macro default__get_where_subquery(relation) -%}
    {%- set where = config.get('where', '') -%}
    {%- if where and '__changed_days__' in where -%}
        {%- if var('changed_days', none) is none -%}
            {%- set where = '' -%}
        {%- else -%}
            {%- set where = where | replace(
                '__changed_days__', 'select day from staging.int_changed_days') -%}
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
