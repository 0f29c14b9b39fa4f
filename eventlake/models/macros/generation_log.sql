{#-
  DuckDB only: what a run rebuilt, logged for the catch-up of the warehouse's other
  generation file (eventlake/warehouse/_duckdb_generations.py). The next run copies into
  the other generation only the logged days of a day-managed table (raw._day_tables)
  instead of the whole file; every table that is not managed by day is copied whole. On a
  DuckDB file without the log tables (a build outside the pipeline) nothing is logged.
  PostgreSQL and Spark change their tables in place and log nothing.

  - delete_where(..., days_column=...) (so delete_changed_days) logs the days it deletes,
    or the whole table on a full rebuild;
  - our incremental materialization logs the days of the rows it inserted
    (record_inserted_days), which may lie outside the deleted days (a metric's days never
    built before), and the whole table when it falls back to dbt-duckdb's (first build,
    --full-refresh).
-#}

{#- The change log relation, or none (while parsing, or on a file without a log). -#}
{% macro generation_log() -%}
    {%- if not execute -%}
        {{ return(none) }}
    {%- endif -%}
    {{ return(adapter.get_relation(database=this.database, schema='raw', identifier='_changes')) }}
{%- endmacro %}

{% macro relation_key(relation) -%}
    {{- relation.schema ~ '.' ~ relation.identifier -}}
{%- endmacro %}

{#- Statements (each ending a previous one with `;`) logging that this model rebuilt `days`
    of `column` (none: the whole table). Appended to a pre-hook's delete. -#}
{% macro record_rebuilt_days(column, days) -%}
    {{- return(adapter.dispatch('record_rebuilt_days', 'eventlake')(column, days)) -}}
{%- endmacro %}

{% macro default__record_rebuilt_days(column, days) -%}{%- endmacro %}

{% macro duckdb__record_rebuilt_days(column, days) -%}
    {%- if eventlake.generation_log() is not none -%}
        {%- set key = eventlake.relation_key(this) -%}
        ;
        insert or ignore into raw._day_tables values ('{{ key }}', '{{ column }}');
        {%- if days is none %}
        insert into raw._changes select version, '{{ key }}', null, null from raw._generation
        {%- elif days | length > 0 %}
        insert into raw._changes
        select g.version, '{{ key }}', '{{ column }}', d.day
        from raw._generation as g,
            (select unnest([{% for day in days %}{{ eventlake.date_literal(day) }}{% if not loop.last %}, {% endif %}{% endfor %}]) as day) as d
        {%- endif -%}
    {%- endif -%}
{%- endmacro %}

{#- Log the whole table (the materialization recreated it). -#}
{% macro record_whole_table(relation) -%}
    {%- if eventlake.generation_log() is not none -%}
        {%- call statement('generation_log_whole') -%}
            insert into raw._changes
            select version, '{{ eventlake.relation_key(relation) }}', null, null from raw._generation
        {%- endcall -%}
    {%- endif -%}
{%- endmacro %}

{#- The day column of a day-managed table, none otherwise. -#}
{% macro day_table_column(relation) -%}
    {%- if eventlake.generation_log() is none -%}
        {{ return(none) }}
    {%- endif -%}
    {%- set found = run_query(
        "select day_column from raw._day_tables where relation = '"
        ~ eventlake.relation_key(relation) ~ "'") -%}
    {{ return(found.rows[0][0] if found.rows | length == 1 else none) }}
{%- endmacro %}

{#- The largest rowid of `relation` now: rows inserted later have larger ones. -#}
{% macro max_rowid(relation) -%}
    {%- set found = run_query('select coalesce(max(rowid), -1) from ' ~ relation) -%}
    {{ return(found.rows[0][0]) }}
{%- endmacro %}

{#- Log the days of the rows inserted after rowid `since` (day-managed tables). -#}
{% macro record_inserted_days(relation, column, since) -%}
    {%- call statement('generation_log_inserted') -%}
        insert into raw._changes
        select distinct g.version, '{{ eventlake.relation_key(relation) }}', '{{ column }}', t."{{ column }}"
        from {{ relation }} as t, raw._generation as g
        where t.rowid > {{ since }} and t."{{ column }}" is not null
    {%- endcall -%}
{%- endmacro %}
