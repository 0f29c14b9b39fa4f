{#- Generic test: no two rows share the values of `columns` (the model's grain). -#}
{% test unique_combination(model, columns) %}
    select {{ columns | join(', ') }}, count(*) as n
    from {{ model }}
    group by {{ columns | join(', ') }}
    having count(*) > 1
{% endtest %}

{#-
  Generic test: the model's grain. No column of `columns` is null (except those listed in
  `nullable`) and no two rows share their values (one test, one scan, instead of
  unique_combination + a not_null per column).
  With `day_column` (which must be part of the grain), an incremental run checks only the
  days it rebuilt (`before`/`after` widen them as the model's own window does) plus rows
  with a null day: a duplicate grain always shares its day, and every other row was checked
  by the run that wrote it. A full build checks every row.
-#}
{% test grain(model, columns, day_column=none, before=0, after=0, nullable=[]) %}
    {%- if day_column is not none and day_column not in columns -%}
        {{ exceptions.raise_compiler_error(
            "grain test: day_column " ~ day_column ~ " must be one of the grain columns") }}
    {%- endif %}
    with checked as (
        select {{ columns | join(', ') }}
        from {{ model }}
        {%- if day_column is not none and var('changed_days', none) is not none %}
        where {{ day_column }} in ({{ eventlake.rebuilt_days(before, after) }})
           or {{ day_column }} is null
        {%- endif %}
    )
    select {{ columns | join(', ') }}, count(*) as n
    from checked
    group by {{ columns | join(', ') }}
    having count(*) > 1
    {%- for column in columns if column not in nullable %}
        or {{ column }} is null
    {%- endfor %}
{% endtest %}

{#-
  Generic test: `column_name` is a key of the whole table: never null, and no value appears
  on two rows, whatever their days. With `day_column`, an incremental run reads the keys of
  the days it rebuilt (`before`/`after` as the model's window, plus rows with a null day) and
  counts each of them over the whole table: a duplicate created by this run involves a
  rebuilt row, and the rows of the other days were unique when the previous run published
  them (a failing run is never published). A full build checks every row.
-#}
{% test unique_key(model, column_name, day_column=none, before=0, after=0) %}
    {%- set restrict = day_column is not none and var('changed_days', none) is not none %}
    with checked as (
        select {{ column_name }} as key_value
        from {{ model }}
        {%- if restrict %}
        where {{ day_column }} in ({{ eventlake.rebuilt_days(before, after) }})
           or {{ day_column }} is null
        {%- endif %}
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
