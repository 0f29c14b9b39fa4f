{#-
  The per-event rules of int_user_days, written once for int_user_days (whole days) and
  int_user_day_changes (the new rows merged into the previous user-days).
-#}

{#- The columns of fct_events a user-day is made of, with its counters per event (1 when
    the event counts). -#}
{% macro user_day_event_columns() -%}
    user_key,
        event_date,
        event_at,
        message_id,
        platform,
        country,
        host_provider,
        case when event_type = 'track' and event_name = 'Level Completed' then 1 else 0 end
            as is_level_completed,
        case when event_type = 'track' and event_name = 'Guild Joined' then 1 else 0 end
            as is_guild_join
{%- endmacro %}

{#- The rank of an event among its user's events of the day; 1 is the first event, whose
    platform, country and host provider are the day's (`prefix` qualifies the columns). -#}
{% macro user_day_rank(prefix='') -%}
    row_number() over (
                partition by {{ prefix }}user_key, {{ prefix }}event_date
                order by {{ prefix }}event_at, {{ prefix }}message_id
            )
{%- endmacro %}
