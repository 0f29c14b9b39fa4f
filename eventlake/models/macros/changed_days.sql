{#-
  Incremental rebuild by day. `var('changed_days')` names the lake partitions that received
  new rows; model int_changed_days expands it to every day whose results can change (shared
  messageIds, new identity links, moved first-seen days). An incremental model deletes
  those days (pre-hook delete_changed_days) and inserts them again (filter
  changed_days_filter), so the result equals a full rebuild. `before`/`after` widen the
  window: a metric over the trailing 30 days of day d changes for d .. d+29 (after=29).
-#}

{% macro changed_days_filter(column, before=0, after=0) -%}
    {%- set changed = ref('int_changed_days') -%}
    {%- if is_incremental() -%}
        {%- if before == 0 and after == 0 -%}
            {{ column }} in (select day from {{ changed }})
        {%- else -%}
            {#- the outer bounds first: a plain range the engine can prune on -#}
            {{ column }} >= (select {{ eventlake.add_days('min(day)', -before) }} from {{ changed }})
            and {{ column }} <= (select {{ eventlake.add_days('max(day)', after) }} from {{ changed }})
            and exists (
                select 1 from {{ changed }} as _c
                where {{ column }} >= {{ eventlake.add_days('_c.day', -before) }}
                  and {{ column }} <= {{ eventlake.add_days('_c.day', after) }}
            )
        {%- endif -%}
    {%- else -%}
        1 = 1
    {%- endif -%}
{%- endmacro %}

{% macro delete_changed_days(column, before=0, after=0) -%}
    {%- if is_incremental() -%}
        delete from {{ this }} where {{ eventlake.changed_days_filter(column, before, after) }}
    {%- else -%}
        select 1
    {%- endif -%}
{%- endmacro %}
