{#-
  Incremental rebuild by day. `var('changed_days')` names the lake partitions that received
  new rows (the *given* days; null on a full rebuild, every day rebuilt). Model
  int_changed_days expands them to every day whose results can change (other copies of
  the messageIds that arrived, days of users whose identity changed, moved first-seen
  days). An incremental model deletes those days (pre-hook delete_changed_days) and
  inserts them again (filter changed_days_filter), so the result equals a full rebuild.
  On Spark the delete is a drop of those days' partitions and the insert an overwrite of
  them (macros/incremental_spark.sql).
  `before`/`after` widen the window: a metric over the trailing 30 days of day d changes
  for d .. d+29 (after=29).

  The days are read from int_changed_days when the model compiles (dbt compiles a model
  just before running it, after int_changed_days was built) and written into its SQL as
  date literals: a plain list the engine prunes row groups on (DuckDB's zone maps), where
  a subquery would be evaluated per statement and hide the range from the planner.
-#}

{#- A date literal, portable. -#}
{% macro date_literal(iso_day) -%}
    cast('{{ iso_day }}' as date)
{%- endmacro %}

{#- `column in (<literals>)`, `1 = 0` for no day. -#}
{% macro in_days(column, days) -%}
    {%- if days | length == 0 -%}
        1 = 0
    {%- else -%}
        {{ column }} in ({% for d in days %}{{ eventlake.date_literal(d) }}{% if not loop.last %}, {% endif %}{% endfor %})
    {%- endif -%}
{%- endmacro %}

{#- The given days (var changed_days) as ISO strings, or none on a full rebuild. -#}
{% macro given_days() -%}
    {%- set days = var('changed_days', none) -%}
    {{ return(none if days is none else (days | map('string') | list | sort)) }}
{%- endmacro %}

{#- Rows of the given days only (`1 = 1` on a full rebuild). -#}
{% macro given_days_filter(column) -%}
    {%- set days = eventlake.given_days() -%}
    {%- if days is none -%}
        1 = 1
    {%- else -%}
        {{ eventlake.in_days(column, days) }}
    {%- endif -%}
{%- endmacro %}

{#-
  The days this run rebuilds, widened by `before`/`after`, as sorted ISO strings: every
  day of int_changed_days, or with `messages_only` the days whose messages changed (new
  copies arrived there or on another day); with `rows_only` true only the days where just
  the arriving messages' rows changed, false only the others. none on a full rebuild or
  when not executing.
-#}
{% macro rebuilt_day_list(before=0, after=0, messages_only=false, rows_only=none) -%}
    {%- set changed = ref('int_changed_days') -%}
    {%- if var('changed_days', none) is none or not execute -%}
        {{ return(none) }}
    {%- endif -%}
    {%- set conditions = ['1 = 1'] -%}
    {%- if messages_only %}{% do conditions.append('messages_changed') %}{% endif -%}
    {%- if rows_only is true %}{% do conditions.append('rows_only') %}{% endif -%}
    {%- if rows_only is false %}{% do conditions.append('not rows_only') %}{% endif -%}
    {%- set rows = run_query(
        'select day from ' ~ changed ~ ' where ' ~ (conditions | join(' and '))
    ) -%}
    {%- set out = [] -%}
    {%- for row in rows -%}
        {%- set day = modules.datetime.date.fromisoformat((row[0] | string)[:10]) -%}
        {%- for shift in range(-before, after + 1) -%}
            {%- set iso = (day + modules.datetime.timedelta(days=shift)).isoformat() -%}
            {%- if iso not in out %}{% do out.append(iso) %}{% endif -%}
        {%- endfor -%}
    {%- endfor -%}
    {{ return(out | sort) }}
{%- endmacro %}

{% macro changed_days_filter(column, before=0, after=0, messages_only=false) -%}
    {%- set changed = ref('int_changed_days') -%}
    {%- if is_incremental() and var('changed_days', none) is not none -%}
        {{ eventlake.in_days(column, eventlake.rebuilt_day_list(before, after, messages_only)) }}
    {%- else -%}
        1 = 1
    {%- endif -%}
{%- endmacro %}

{#- Pre-hook of an incremental model: delete the rows matching `condition` (the rows this
    run rebuilds), every row on a full rebuild, nothing on a first build. With
    `days_column`, the rows deleted all lie on the rebuilt days (rebuilt_day_list with
    `before`, `after`, `messages_only`), which DuckDB logs for its generation files
    (macros/generation_log.sql). Spark's Parquet tables take no DELETE
    (macros/incremental_spark.sql). -#}
{% macro delete_where(condition, days_column=none, before=0, after=0, messages_only=false) -%}
    {{ return(adapter.dispatch('delete_where', 'eventlake')(
        condition, days_column, before, after, messages_only)) }}
{%- endmacro %}

{% macro default__delete_where(condition, days_column=none, before=0, after=0, messages_only=false) -%}
    {%- if is_incremental() and var('changed_days', none) is none -%}
        delete from {{ this }}
        {%- if days_column is not none %}{{ eventlake.record_rebuilt_days(days_column, none) }}{% endif %}
    {%- elif is_incremental() -%}
        delete from {{ this }} where {{ condition }}
        {%- if days_column is not none %}{{ eventlake.record_rebuilt_days(
            days_column, eventlake.rebuilt_day_list(before, after, messages_only) or []) }}{% endif %}
    {%- else -%}
        select 1
    {%- endif -%}
{%- endmacro %}

{#- Pre-hook: delete the days this run rebuilds (on Spark: drop their partitions). -#}
{% macro delete_changed_days(column, before=0, after=0) -%}
    {{ return(adapter.dispatch('delete_changed_days', 'eventlake')(column, before, after)) }}
{%- endmacro %}

{% macro default__delete_changed_days(column, before=0, after=0) -%}
    {{ eventlake.delete_where(
        eventlake.changed_days_filter(column, before, after), column, before, after) }}
{%- endmacro %}

{#-
  Rows of a row-level fact (one row per messageId: the facts over fct_events) that this
  run rebuilds: every row of the days rebuilt whole, and on the `rows_only` days of
  int_changed_days only the rows whose `key_column` is an arriving messageId (their
  stg_events rows were merged again; nothing else of the day can change). `1 = 1` on a
  full rebuild. On Spark, whose insert overwrite replaces whole partitions, whole days.
-#}
{% macro changed_rows_filter(column, key_column, arrival_column=none) -%}
    {%- set changed = ref('int_changed_days') -%}
    {%- if is_incremental() and var('changed_days', none) is not none -%}
        {{ eventlake.rebuilt_rows(column, key_column, arrival_column) }}
    {%- else -%}
        1 = 1
    {%- endif -%}
{%- endmacro %}

{#- The condition itself (the run rebuilds some days: var changed_days set). With
    `arrival_column` (the rows' `received_at`: stg_events and fct_events), the arriving rows
    are also bounded by arrival_time_bound, for the engine to prune on. -#}
{% macro rebuilt_rows(column, key_column, arrival_column=none) -%}
    {{ return(adapter.dispatch('rebuilt_rows', 'eventlake')(column, key_column, arrival_column)) }}
{%- endmacro %}

{% macro default__rebuilt_rows(column, key_column, arrival_column=none) -%}
    {%- set rows = eventlake.rebuilt_day_list(rows_only=true) or [] -%}
    ({{ eventlake.in_days(column, eventlake.rebuilt_day_list(rows_only=false) or []) }}
    {%- if rows | length > 0 %}
    or ({{ eventlake.in_days(column, rows) }}
        and {{ key_column }} in ({{ eventlake.arrived_message_ids() }})
        {{- eventlake.arrival_time_bound(arrival_column) if arrival_column }})
    {%- endif -%})
{%- endmacro %}

{% macro spark__rebuilt_rows(column, key_column, arrival_column=none) -%}
    {{ eventlake.in_days(column, eventlake.rebuilt_day_list() or []) }}
{%- endmacro %}

{#- Pre-hook of a row-level fact: delete the rows changed_rows_filter names (on Spark: drop
    the rebuilt days' partitions), logging the whole days and the row-level days apart
    for DuckDB's generations (macros/generation_log.sql). -#}
{% macro delete_changed_rows(column, key_column) -%}
    {{ return(adapter.dispatch('delete_changed_rows', 'eventlake')(column, key_column)) }}
{%- endmacro %}

{% macro default__delete_changed_rows(column, key_column) -%}
    {%- if is_incremental() and var('changed_days', none) is not none -%}
        delete from {{ this }} where {{ eventlake.changed_rows_filter(column, key_column) }}
        {{- eventlake.record_rebuilt_days(column, eventlake.rebuilt_day_list(rows_only=false) or []) }}
        {{- eventlake.record_rebuilt_days(
            column, eventlake.rebuilt_day_list(rows_only=true) or [], key_column,
            eventlake.messages_new()) }}
    {%- else -%}
        {{ eventlake.delete_changed_days(column) }}
    {%- endif -%}
{%- endmacro %}

{% macro spark__delete_changed_rows(column, key_column) -%}
    {{ eventlake.drop_changed_days(column) }}
{%- endmacro %}

{#-
  Whether fct_sessions changes only for the users with new events (int_session_changes):
  every day the run rebuilds is `rows_only` and every copy of each arriving message
  arrived in this run (its stg_events row was inserted, none replaced). Never on Spark (whole partitions) or when
  not executing.
-#}
{% macro sessions_by_rows() -%}
    {{ return(adapter.dispatch('sessions_by_rows', 'eventlake')()) }}
{%- endmacro %}

{% macro default__sessions_by_rows() -%}
    {%- if not execute or var('changed_days', none) is none or var('new_rows', none) is none -%}
        {{ return(false) }}
    {%- endif -%}
    {%- set rows = eventlake.rebuilt_day_list(rows_only=true) or [] -%}
    {%- if rows | length == 0 or eventlake.rebuilt_day_list(rows_only=false) | length > 0 -%}
        {{ return(false) }}
    {%- endif -%}
    {{ return(eventlake.messages_new()) }}
{%- endmacro %}

{#- int_changed_days.messages_new: every copy of each arriving message arrived in this run
    (a message with a copy that did not had a row before, which this run replaces). false
    on a full rebuild, without new_rows, or when not executing. -#}
{% macro messages_new() -%}
    {%- if not execute or var('changed_days', none) is none or var('new_rows', none) is none -%}
        {{ return(false) }}
    {%- endif -%}
    {%- set found = run_query(
        'select count(*), count(*) filter (where messages_new) from ' ~ ref('int_changed_days')) -%}
    {{ return(found.rows[0][0] | int > 0 and found.rows[0][0] == found.rows[0][1]) }}
{%- endmacro %}

{% macro spark__sessions_by_rows() -%}
    {{ return(false) }}
{%- endmacro %}

{#- Whether the changes model `name` (int_session_changes, int_user_day_changes) has rows:
    the run qualified for changes below the day (sessions_by_rows held: every arriving
    message is new and lies on a rows_only day). false when not executing. -#}
{% macro changes_found(name) -%}
    {%- if not execute -%}
        {{ return(false) }}
    {%- endif -%}
    {%- set found = run_query('select count(*) from ' ~ ref(name)) -%}
    {{ return(found.rows[0][0] | int > 0) }}
{%- endmacro %}

{#- Whether fct_sessions applies int_session_changes instead of rebuilding whole days. -#}
{% macro session_changes_apply() -%}
    {{ return(is_incremental() and eventlake.changes_found('int_session_changes')) }}
{%- endmacro %}

{#- Whether int_user_days applies int_user_day_changes instead of rebuilding whole days. -#}
{% macro user_day_changes_apply() -%}
    {{ return(is_incremental() and eventlake.changes_found('int_user_day_changes')) }}
{%- endmacro %}

{#- Pre-hook that applies the changes model `name`: delete the rows whose `key` (a list of
    columns) is listed with change = 'delete', on the days of its rows (`day_column`), and
    log those days for DuckDB's generations. -#}
{% macro delete_listed_changes(name, key, day_column) -%}
    {%- set changes = ref(name) -%}
    {%- set days = [] -%}
    {%- for row in run_query(
        'select distinct ' ~ day_column ~ ' from ' ~ changes
        ~ ' where ' ~ day_column ~ ' is not null') -%}
        {%- do days.append((row[0] | string)[:10]) -%}
    {%- endfor -%}
        delete from {{ this }}
        where {{ eventlake.in_days(day_column, days | sort) }}
          and ({{ key | join(', ') }}) in (
            select {{ key | join(', ') }} from {{ changes }} where change = 'delete')
        {{- eventlake.record_rebuilt_days(day_column, days | sort) }}
{%- endmacro %}

{#- Pre-hook of int_user_days: with user_day_changes_apply, delete the user-days
    int_user_day_changes replaces; else the rebuilt days and the day after each. -#}
{% macro delete_changed_user_days() -%}
    {%- if eventlake.user_day_changes_apply() -%}
        {{ eventlake.delete_listed_changes(
            'int_user_day_changes', ['user_key', 'activity_date'], 'activity_date') }}
    {%- else -%}
        {{ eventlake.delete_changed_days('activity_date', 0, 1) }}
    {%- endif -%}
{%- endmacro %}

{#- Pre-hook of fct_sessions: with session_changes_apply, delete the sessions
    int_session_changes replaces; else the rebuilt days and their neighbours. -#}
{% macro delete_changed_sessions() -%}
    {%- if eventlake.session_changes_apply() -%}
        {{ eventlake.delete_listed_changes('int_session_changes', ['session_id'], 'session_date') }}
    {%- else -%}
        {{ eventlake.delete_changed_days('session_date', 1, 1) }}
    {%- endif -%}
{%- endmacro %}

{#- Pre-hook of stg_events: delete the rows of the messageIds that got a copy on a given day
    (they lie on the days with messages_changed; on Spark: drop those days' partitions). -#}
{% macro delete_arrived_messages() -%}
    {{ return(adapter.dispatch('delete_arrived_messages', 'eventlake')()) }}
{%- endmacro %}

{% macro default__delete_arrived_messages() -%}
    {%- if is_incremental() and var('changed_days', none) is not none
        and var('new_rows', none) is not none -%}
    {#- the rows of the arriving messageIds are all that changes: logged as rows -#}
    {%- set days = eventlake.rebuilt_day_list(messages_only=true) or [] -%}
        delete from {{ this }}
        where {{ eventlake.in_days('event_date', days) }}
          and message_id in ({{ eventlake.arrived_message_ids() }})
          {{- eventlake.arrival_time_bound('received_at') }}
        {{- eventlake.record_rebuilt_days('event_date', days, 'message_id',
            eventlake.messages_new()) }}
    {%- else -%}
    {{ eventlake.delete_where(
        eventlake.changed_days_filter('event_date', messages_only=true)
        ~ ' and message_id in (' ~ eventlake.arrived_message_ids() ~ ')',
        days_column='event_date', messages_only=true) }}
    {%- endif -%}
{%- endmacro %}

{#- Pre-hook of an append-only model (int_identity_ids): empty it before a run that
    rebuilds every day into an existing table, keep it otherwise. -#}
{% macro delete_all_on_full_rebuild() -%}
    {{ return(adapter.dispatch('delete_all_on_full_rebuild', 'eventlake')()) }}
{%- endmacro %}

{% macro default__delete_all_on_full_rebuild() -%}
    {{ eventlake.delete_where('1 = 0') }}
{%- endmacro %}

{#-
  The relation that model `name` was left in by the previous (published) build, or none
  when it does not exist yet (and while dbt parses). A model reads it for the state before
  this run without a ref(), so that `name` stays downstream of the reader: dbt then runs
  `name` after the reader, and the reader sees last run's rows. Every such read is listed
  in docs/models.md and checked by a test on the manifest
  (tests/integration/warehouse/test_build_checks.py).
-#}
{% macro previous_relation(name) -%}
    {%- if not execute -%}
        {{ return(none) }}
    {%- endif -%}
    {%- for node in graph.nodes.values()
        if node.resource_type == 'model' and node.package_name == 'eventlake'
        and node.name == name -%}
        {{ return(adapter.get_relation(
            database=node.database, schema=node.schema, identifier=node.alias)) }}
    {%- endfor -%}
    {{ return(none) }}
{%- endmacro %}

{#-
  The rows a run brought: those of the given days, and when var('new_rows') names the bus
  offsets of the new lake commits ([[partition, first, last], ...], from the raw load),
  only those. Without it every row of a given day counts as arrived, which is correct but
  ranks every message of the day again on every run (and rebuilds every other day holding
  a copy of one of them). `prefix` qualifies the columns (`r.`).
-#}
{% macro arrived_rows_filter(column='event_date', prefix='') -%}
    {{ eventlake.given_days_filter(prefix ~ column) }}
    {%- set ranges = var('new_rows', none) -%}
    {%- if ranges is not none and var('changed_days', none) is not none %}
        and (
        {%- for r in ranges %}
            ({{ prefix }}bus_partition = {{ r[0] | int }} and {{ prefix }}bus_offset between {{ r[1] | int }} and {{ r[2] | int }}){% if not loop.last %} or{% endif %}
        {%- else %}
            1 = 0
        {%- endfor %}
        )
    {%- endif -%}
{%- endmacro %}

{#-
  ` and <column> >= <the earliest received_at of the rows this run brought>`, or nothing:
  a condition that every row of an arriving message meets in a table holding each
  message's winning copy (stg_events, fct_events: `column` is their received_at), added
  beside `message_id in (arrived_message_ids())` so that the engine skips the day's older
  rows instead of probing every messageId of the day (DuckDB's zone maps: today's rows
  are appended run by run, so all but the last row groups end before that time). It
  holds only when every copy of each arriving message arrived in this run
  (messages_new): the winner is then one of those rows. Nothing otherwise, when a row
  brought has no received_at, and on other engines (no zone maps to prune on).
-#}
{% macro arrival_time_bound(column) -%}
    {{ return(adapter.dispatch('arrival_time_bound', 'eventlake')(column)) }}
{%- endmacro %}

{% macro default__arrival_time_bound(column) -%}
{%- endmacro %}

{% macro duckdb__arrival_time_bound(column) -%}
    {%- if execute and var('changed_days', none) is not none
        and var('new_rows', none) is not none -%}
        {#- messages_new and the earliest arrival, as int_changed_days counted them -#}
        {%- set found = run_query(
            'select cast(max(arrived_since) as varchar), typeof(max(arrived_since)), '
            ~ 'count(*) > 0 and bool_and(messages_new) from ' ~ ref('int_changed_days')) -%}
        {%- if found.rows[0][2] and found.rows[0][0] is not none %}
        and {{ column }} >= cast('{{ found.rows[0][0] }}' as {{ found.rows[0][1] }})
        {%- endif -%}
    {%- endif -%}
{%- endmacro %}

{#- The messageIds with a copy among the rows this run brought (a subquery). -#}
{% macro arrived_message_ids() -%}
    select message_id from {{ source('raw', 'events') }}
    where {{ eventlake.arrived_rows_filter('event_date') }}
{%- endmacro %}
