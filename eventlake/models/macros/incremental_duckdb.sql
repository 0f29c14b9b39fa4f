{#-
  DuckDB incremental models, as dbt-duckdb's own materialization, except for the case every
  incremental run of ours takes: the table exists, strategy `append`, no unique_key, no
  --full-refresh, a SQL model. There dbt-duckdb would run the model into a temporary table,
  read both tables' columns three times (type expansion, on_schema_change) and copy the
  temporary table into the target: seven statements, the rows written twice. A day's run
  is mostly such fixed costs (docs/models.md), so this path runs the pre-hooks (our
  `delete_changed_days`), checks the schema with one query that only binds the model's SQL
  (`describe`, nothing is executed), and inserts the model's rows straight into the table.
  `on_schema_change`: `fail` (ours) and `ignore` are honoured here; any other value, and
  every other case, goes to dbt-duckdb's materialization unchanged. PostgreSQL and Spark
  use their adapters' materializations.
-#}
{%- materialization incremental, adapter='duckdb' -%}

  {%- set existing_relation = load_cached_relation(this) -%}
  {%- set on_schema_change = config.get('on_schema_change') or 'ignore' -%}
  {%- set direct = existing_relation is not none and existing_relation.is_table
        and not should_full_refresh()
        and model['language'] == 'sql'
        and (config.get('incremental_strategy') or 'append') == 'append'
        and not config.get('unique_key')
        and on_schema_change in ('fail', 'ignore') -%}
  {%- if not direct -%}
    {#- the table is created or rewritten whole: so is its copy in the other generation
        (logged first: the materialization commits the transaction this opens) -#}
    {%- do eventlake.record_whole_table(this) -%}
    {{ return(dbt.materialization_incremental_duckdb()) }}
  {%- endif -%}

  {%- set target_relation = this.incorporate(type='table') -%}
  {%- set grant_config = config.get('grants') -%}

  {{ run_hooks(pre_hooks, inside_transaction=False) }}
  -- `BEGIN` happens here:
  {{ run_hooks(pre_hooks, inside_transaction=True) }}

  {%- set columns = run_query(eventlake.model_columns_sql(target_relation, sql)) -%}
  {%- set drift = [] -%}
  {%- for row in columns.rows if row[2] -%}
    {%- do drift.append(row[0]) -%}
  {%- endfor -%}
  {%- if drift and on_schema_change == 'fail' -%}
    {{ exceptions.raise_compiler_error(
        "The source and target schemas on this incremental model are out of sync: "
        ~ (drift | join(', '))
        ~ ". Run with --full-refresh (eventlake build --full-refresh) to rebuild "
        ~ target_relation ~ " with the model's new columns.") }}
  {%- endif -%}
  {%- set insert_columns = [] -%}
  {%- for row in columns.rows if row[1] is not none and row[3] is not none -%}
    {%- do insert_columns.append(adapter.quote(row[3])) -%}
  {%- endfor -%}

  {#- a day-managed table (its pre-hook logged the days it deleted): rows inserted past this
      rowid are logged by day too (macros/generation_log.sql) -#}
  {%- set day_column = eventlake.day_table_column(target_relation) -%}
  {%- set rowid_before = eventlake.max_rowid(target_relation) if day_column is not none else none -%}

  {% call statement('main') -%}
    insert into {{ target_relation }} ({{ insert_columns | join(', ') }})
    select {{ insert_columns | join(', ') }}
    from (
        {{ sql }}
    ) as model_rows
  {%- endcall %}

  {%- if day_column is not none -%}
    {%- do eventlake.record_inserted_days(target_relation, day_column, rowid_before) -%}
  {%- endif -%}

  {% do apply_grants(target_relation, grant_config, should_revoke=should_revoke(existing_relation, False)) %}
  {% do persist_docs(target_relation, model) %}

  {{ run_hooks(post_hooks, inside_transaction=True) }}

  -- `COMMIT` happens here
  {{ adapter.commit() }}

  {{ run_hooks(post_hooks, inside_transaction=False) }}

  {{ return({'relations': [target_relation]}) }}

{%- endmaterialization -%}

{#-
  One row per column of the model's SQL or of the table: (label, the model's column, drift,
  the table's column). `drift` is true when a column is on one side only or its type
  differs. `describe` binds the query without running it.
-#}
{% macro model_columns_sql(relation, sql) -%}
    with model_columns as (
        select column_name, column_type, row_number() over () as position
        from (describe {{ sql }}
        )
    ),

    table_columns as (
        select column_name, data_type as column_type, ordinal_position as position
        from information_schema.columns
        where table_catalog = '{{ relation.database }}'
          and table_schema = '{{ relation.schema }}'
          and table_name = '{{ relation.identifier }}'
    )

    select
        coalesce(m.column_name, t.column_name)
            || ' (model: ' || coalesce(m.column_type, 'none')
            || ', table: ' || coalesce(t.column_type, 'none') || ')' as label,
        m.column_name as model_column,
        m.column_name is null or t.column_name is null or m.column_type <> t.column_type
            as drift,
        t.column_name as table_column
    from model_columns as m
    full outer join table_columns as t on lower(t.column_name) = lower(m.column_name)
    order by coalesce(t.position, 1000000 + m.position)
{%- endmacro %}
