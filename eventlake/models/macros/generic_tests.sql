{#-
  The project's generic data tests. Each test is one dbt node, and each node has a fixed
  cost (compile, connection, log events, a compiled file: 25-50 ms on 2 cores) that a day's
  incremental run pays whatever the data size, so the checks of a model are grouped into
  few tests: `grain` (the key of a table whose rows are keyed by the day as well, or of a
  small table), `unique_key` (a key unique across all days), and `row_checks` (not_null,
  accepted_values, the tracking plan's allowed values and relationships, one row per
  failing check). A failing test returns rows that name the check that failed, the column
  and the offending value.

  With `day_column`, an incremental run (var changed_days set) checks only the days it
  rebuilt (`before`/`after` widen them as the model's own window does) plus rows with a
  null day, which always fail: every other row passed these tests when the run that wrote
  it was published (a failing run is never published). A full build checks every row.
-#}

{#- The rows a day-restricted test reads (a select of `columns` from `model`): the days
    this run rebuilt (int_changed_days widened by `before`/`after`) and null days; every
    row on a full build. With `rows_key` (a row-level fact's messageId column, whose model
    rebuilds with changed_rows_filter), on the days where only the arriving messages' rows
    changed, only those rows: the others were checked when the run that wrote them was
    published. `rows_time` (the rows' received_at, on tables of winning copies:
    stg_events, fct_events) bounds those rows by their arrival time too
    (arrival_time_bound). The null days are a second select, not an `or`: a condition
    on another column inside an `or` is not pushed into DuckDB's scan, so the day's older
    row groups would be read (0.09 s instead of 0.04 s for a run's rows of a 6M-row day);
    a null day is skipped by the zone maps wherever a row group has none. -#}
{% macro checked_rows(model, columns, day_column, before=0, after=0, rows_key=none, rows_time=none) -%}
    {%- set days = none -%}
    {%- if day_column is not none -%}
        {%- set days = eventlake.rebuilt_day_list(before, after) -%}
    {%- endif -%}
        select {{ columns }}
        from {{ model }}
    {%- if days is not none and day_column is not none %}
        where
        {%- if rows_key is not none and before == 0 and after == 0 %}
            {{ eventlake.rebuilt_rows(day_column, rows_key, rows_time) }}
        {%- else %}
            {{ eventlake.in_days(day_column, days) }}
        {%- endif %}
        union all
        select {{ columns }}
        from {{ model }}
        where {{ day_column }} is null
    {%- endif -%}
{%- endmacro %}

{#-
  Generic test: the model's grain. No column of `columns` (except those in `nullable`) and
  no column of `not_null` is null, and no two rows share the values of `columns`. With
  `day_column` (one of `columns`), two rows sharing a grain share its day, so checking the
  rebuilt days is a global check.
-#}
{% test grain(model, columns, day_column=none, before=0, after=0, nullable=[], not_null=[]) %}
    {%- if day_column is not none and day_column not in columns -%}
        {{ exceptions.raise_compiler_error(
            "grain test: day_column " ~ day_column ~ " must be one of the grain columns") }}
    {%- endif %}
    {%- set others = [] %}
    {%- for column in not_null if column not in columns %}{% do others.append(column) %}{% endfor %}
    with checked as (
        {{ eventlake.checked_rows(model, (columns + others) | join(', '), day_column, before, after) }}
    )

    select {{ columns | join(', ') }}, count(*) as n
    from checked
    group by {{ columns | join(', ') }}
    having count(*) > 1
    {%- for column in columns if column not in nullable %}
        or {{ column }} is null
    {%- endfor %}
    {%- for column in others %}
        or count({{ column }}) < count(*)
    {%- endfor %}
{% endtest %}

{#-
  Generic test: `column_name` is a key of the whole table: never null, and no value appears
  on two rows, whatever their days. With `day_column`, an incremental run reads the keys of
  the days it rebuilt and counts each of them over the *whole* table: a duplicate created by
  this run involves a rebuilt row.
-#}
{% test unique_key(model, column_name, day_column=none, before=0, after=0, rows_key=none, rows_time=none) %}
    {%- set restrict = day_column is not none and var('changed_days', none) is not none %}
    with checked as (
        {{ eventlake.checked_rows(
            model, column_name ~ ' as key_value', day_column, before, after, rows_key, rows_time) }}
    ),

    nulls as (
        select key_value, 'null' as problem, count(*) as n
        from checked
        where key_value is null
        group by key_value
    ),

    duplicates as (
        select {{ column_name }} as key_value, 'duplicate' as problem, count(*) as n
        from {{ model }}
        {%- if restrict %}
        where {{ column_name }} in (select key_value from checked)
        {%- endif %}
        group by {{ column_name }}
        having count(*) > 1
    )

    select key_value, problem, n from nulls
    union all
    select key_value, problem, n from duplicates
{% endtest %}

{#-
  Generic test: the row-level checks of a model, one scan of the checked columns of its
  (rebuilt) rows:
  - `not_null`: columns never null (with `day_column`, that column too);
  - `accepted_values`: {column: [values]}, as dbt's accepted_values (nulls pass);
  - `planned_values`: {column: {event, property}}: the values the tracking plan
    (var tracking_plan) allows for that property; no `allowed` list, no check;
  - `references`: [{column, to: ref(...), field}], as dbt's relationships: every non-null
    value is a `field` of `to`.
  Returns one row per failing check and value: check_name, column_name, value, rows.
-#}
{% test row_checks(model, day_column=none, before=0, after=0, not_null=[], accepted_values={}, planned_values={}, references=[], rows_key=none, rows_time=none) %}
    {%- set text = dbt.type_string() %}
    {%- set plan = var('tracking_plan', {}) or {} %}
    {%- set required = [] %}
    {%- for column in ([day_column] if day_column is not none else []) + not_null if column not in required %}
        {%- do required.append(column) %}
    {%- endfor %}
    {%- set branches = [] %}
    {%- for column in required %}
        {%- do branches.append(
            "select 'not_null' as check_name, '" ~ column ~ "' as column_name, "
            ~ "cast(null as " ~ text ~ ") as value, count(*) as failing_rows "
            ~ "from checked where " ~ column ~ " is null having count(*) > 0") %}
    {%- endfor %}
    {%- set allowed_lists = [] %}
    {%- for column, values in accepted_values.items() | sort %}
        {%- do allowed_lists.append(['accepted_values', column, values]) %}
    {%- endfor %}
    {%- for column, rule in planned_values.items() | sort %}
        {%- set spec = ((plan.get(rule['event']) or {}).get('properties') or {}).get(rule['property']) or {} %}
        {%- if spec.get('allowed') %}
            {%- do allowed_lists.append(['planned_values', column, spec['allowed']]) %}
        {%- endif %}
    {%- endfor %}
    {%- for check, column, values in allowed_lists %}
        {%- set quoted = [] %}
        {%- for v in values %}{% do quoted.append("'" ~ (v | string | replace("'", "''")) ~ "'") %}{% endfor %}
        {%- do branches.append(
            "select '" ~ check ~ "' as check_name, '" ~ column ~ "' as column_name, "
            ~ "cast(" ~ column ~ " as " ~ text ~ ") as value, count(*) as failing_rows "
            ~ "from checked where " ~ column ~ " is not null and cast(" ~ column ~ " as "
            ~ text ~ ") not in (" ~ quoted | join(', ') ~ ") group by " ~ column) %}
    {%- endfor %}
    {%- for ref_check in references %}
        {%- do branches.append(
            "select 'relationships' as check_name, '" ~ ref_check['column'] ~ "' as column_name, "
            ~ "cast(c." ~ ref_check['column'] ~ " as " ~ text ~ ") as value, "
            ~ "count(*) as failing_rows from checked as c left join " ~ ref_check['to']
            ~ " as p on p." ~ ref_check['field'] ~ " = c." ~ ref_check['column']
            ~ " where c." ~ ref_check['column'] ~ " is not null and p." ~ ref_check['field']
            ~ " is null group by c." ~ ref_check['column']) %}
    {%- endfor %}
    {%- set columns = [] %}
    {%- for column in required + (allowed_lists | map(attribute=1) | list)
        + (references | map(attribute='column') | list) if column not in columns %}
        {%- do columns.append(column) %}
    {%- endfor %}
    with checked as (
        {{ eventlake.checked_rows(
            model, columns | join(', ') if columns else '1 as no_column',
            day_column, before, after, rows_key, rows_time) }}
    )

    {% if branches -%}
    {{ branches | join('\n    union all\n    ') }}
    {%- else -%}
    select 'none' as check_name, 'none' as column_name, cast(null as {{ text }}) as value,
        0 as failing_rows
    from checked where 1 = 0
    {%- endif %}
{% endtest %}
