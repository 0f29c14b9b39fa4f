{#-
  Incremental models on Spark, whose plain Parquet tables take no DELETE (Delta and Iceberg
  would, but their jars come from Maven at run time). A model that rebuilds whole days is a
  Parquet table partitioned by its day column, built with dbt-spark's `insert_overwrite`
  strategy under dynamic partition overwrite (spark.sql.sources.partitionOverwriteMode =
  dynamic, set by eventlake's session and by dbt-spark): a run replaces exactly the day
  partitions its rows fall in and leaves the others as they are.

  Dynamic overwrite only replaces a partition the model writes rows to: a rebuilt day
  whose new result is empty would keep its old rows. So the pre-hook first drops the
  partitions of every day the run rebuilds (the same days the DuckDB/PostgreSQL pre-hook
  deletes), and the model must emit every row of those days, not only the changed ones
  (stg_events re-ranks every messageId of its rebuilt days on Spark for that reason).
  A model whose changed rows are not whole days (int_identity_map) is rebuilt whole as a
  table on Spark. docs/models.md, "Incremental by day on Spark".

  Every macro here has a default (DuckDB, PostgreSQL) that is exactly what those
  adapters ran before: the same strategy, the same deletes.
-#}

{#- Config of an incremental model rebuilt by whole days of `column`: `append` after a
    delete pre-hook, or on Spark `insert_overwrite` of a Parquet table partitioned by
    `column`. Used as `config(materialized='incremental', pre_hook=...,
    **eventlake.day_partitions('event_date'))`. -#}
{% macro day_partitions(column) -%}
    {{ return(adapter.dispatch('day_partitions', 'eventlake')(column)) }}
{%- endmacro %}

{% macro default__day_partitions(column) -%}
    {{ return({'incremental_strategy': 'append'}) }}
{%- endmacro %}

{% macro spark__day_partitions(column) -%}
    {{ return({
        'incremental_strategy': 'insert_overwrite',
        'file_format': 'parquet',
        'partition_by': [column],
    }) }}
{%- endmacro %}

{#- Materialization of an incremental model whose changed rows are not whole days (the
    identity map merges components): incremental where rows can be deleted, a table
    rebuilt whole on Spark. -#}
{% macro incremental_or_table() -%}
    {{ return(adapter.dispatch('incremental_or_table', 'eventlake')()) }}
{%- endmacro %}

{% macro default__incremental_or_table() -%}
    {{ return('incremental') }}
{%- endmacro %}

{% macro spark__incremental_or_table() -%}
    {{ return('table') }}
{%- endmacro %}

{#- Pre-hook on Spark: drop the partitions of the days this run rebuilds (`before`/`after`,
    `messages_only` as in changed_days_filter), so that a day whose new result is empty
    does not keep its old rows; the model's insert overwrite then writes the others.
    Every row on a full rebuild into an existing table (`truncate`), nothing on a first
    build or when no day is rebuilt. -#}
{% macro drop_changed_days(column, before=0, after=0, messages_only=false) -%}
    {%- if not is_incremental() -%}
        select 1
    {%- elif var('changed_days', none) is none -%}
        truncate table {{ this }}
    {%- else -%}
        {%- set days = eventlake.rebuilt_day_list(before, after, messages_only) -%}
        {%- if days | length == 0 -%}
            select 1
        {%- else -%}
            alter table {{ this }} drop if exists
            {%- for d in days %}
            partition ({{ column }} = date '{{ d }}'){% if not loop.last %},{% endif %}
            {%- endfor %}
        {%- endif -%}
    {%- endif -%}
{%- endmacro %}

{% macro spark__delete_changed_days(column, before=0, after=0) -%}
    {{ eventlake.drop_changed_days(column, before, after) }}
{%- endmacro %}

{#- stg_events on Spark: drop its message days; the model then emits every row of them. -#}
{% macro spark__delete_arrived_messages() -%}
    {{ eventlake.drop_changed_days('event_date', messages_only=true) }}
{%- endmacro %}

{% macro spark__delete_all_on_full_rebuild() -%}
    {%- if is_incremental() and var('changed_days', none) is none -%}
        truncate table {{ this }}
    {%- else -%}
        select 1
    {%- endif -%}
{%- endmacro %}

{#- Only the deletes that need no DELETE run on Spark: every row (truncate) and none. -#}
{% macro spark__delete_where(condition, days_column=none, before=0, after=0, messages_only=false) -%}
    {%- if not is_incremental() -%}
        select 1
    {%- elif var('changed_days', none) is none -%}
        truncate table {{ this }}
    {%- else -%}
        {{ exceptions.raise_compiler_error(
            "Spark's Parquet tables take no DELETE (" ~ this ~ " where " ~ condition ~ "): "
            ~ "rebuild whole day partitions instead, with config(materialized='incremental', "
            ~ "pre_hook=\"{{ eventlake.delete_changed_days('<day column>') }}\", "
            ~ "**eventlake.day_partitions('<day column>')) and a model that emits every row "
            ~ "of the rebuilt days (docs/models.md)") }}
    {%- endif -%}
{%- endmacro %}
