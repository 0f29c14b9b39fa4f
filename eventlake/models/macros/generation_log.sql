{#-
  DuckDB only: what a run rebuilt, logged for the catch-up of the warehouse's other
  generation file (eventlake/warehouse/_duckdb_generations.py). The next run copies into
  the other generation only the logged days of a day-managed table (raw._day_tables)
  instead of the whole file; every table that is not managed by day is copied whole. On a
  DuckDB file without the log tables (a build outside the pipeline) nothing is logged.
  PostgreSQL and Spark change their tables in place and log nothing.

  - delete_where(..., days_column=...) (so delete_changed_days) logs the days it deletes,
    or the whole table on a full rebuild;
  - delete_changed_rows (the row-level facts over fct_events) and stg_events' merge log, for a day
    where only the arriving messages' rows changed, the day with the key column holding
    messageIds (`key_column`): the catch-up copies the rows of that day whose key is a
    messageId that arrived in that run (raw._arrivals, logged by the raw load), not the day;
    `appended` when none of those messages had a row before (the catch-up then only
    inserts them, with no delete to look for);
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
    of `column` (none: the whole table), or with `key_column` only the rows of those days
    whose `key_column` is an arriving messageId; `appended`: none of those messages had a
    row before (int_changed_days.messages_new), so the catch-up only inserts them.
    Appended to a pre-hook's delete. -#}
{% macro record_rebuilt_days(column, days, key_column=none, appended=false) -%}
    {{- return(adapter.dispatch('record_rebuilt_days', 'eventlake')(
        column, days, key_column, appended)) -}}
{%- endmacro %}

{% macro default__record_rebuilt_days(column, days, key_column=none, appended=false) -%}{%- endmacro %}

{% macro duckdb__record_rebuilt_days(column, days, key_column=none, appended=false) -%}
    {%- if eventlake.generation_log() is not none -%}
        {%- set key = eventlake.relation_key(this) -%}
        ;
        insert or ignore into raw._day_tables values ('{{ key }}', '{{ column }}');
        {%- if days is none %}
        insert into raw._changes (version, relation) select version, '{{ key }}' from raw._generation
        {%- elif days | length > 0 %}
        insert into raw._changes (version, relation, day_column, day, key_column, appended)
        select g.version, '{{ key }}', '{{ column }}', d.day,
            {% if key_column is none %}null{% else %}'{{ key_column }}'{% endif %},
            {{ 'true' if key_column is not none and appended else 'false' }}
        from raw._generation as g,
            (select unnest([{% for day in days %}{{ eventlake.date_literal(day) }}{% if not loop.last %}, {% endif %}{% endfor %}]) as day) as d
        {%- endif -%}
    {%- endif -%}
{%- endmacro %}

{#- Log the whole table (the materialization recreated it). -#}
{% macro record_whole_table(relation) -%}
    {%- if eventlake.generation_log() is not none -%}
        {%- call statement('generation_log_whole') -%}
            insert into raw._changes (version, relation)
            select version, '{{ eventlake.relation_key(relation) }}' from raw._generation
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

{#- Log the days of the rows inserted after rowid `since` (day-managed tables) that the
    pre-hook did not log already (as days, or as the rows of arriving messages). -#}
{% macro record_inserted_days(relation, column, since) -%}
    {%- set key = eventlake.relation_key(relation) -%}
    {%- call statement('generation_log_inserted') -%}
        insert into raw._changes (version, relation, day_column, day)
        select g.version, '{{ key }}', '{{ column }}', d.day
        from (
            select distinct t."{{ column }}" as day
            from {{ relation }} as t
            where t.rowid > {{ since }} and t."{{ column }}" is not null
        ) as d, raw._generation as g
        where not exists (
            select 1 from raw._changes as c
            where c.version = g.version and c.relation = '{{ key }}' and c.day = d.day
        )
    {%- endcall -%}
{%- endmacro %}
