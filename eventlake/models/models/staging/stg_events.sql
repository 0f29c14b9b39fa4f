{{ config(
    materialized='incremental',
    incremental_strategy='append',
    pre_hook="{{ eventlake.delete_arrived_messages() }}"
) }}
{#-
  One row per messageId across all history. The first arrival wins, deterministically:
  ordered by received_at, then bus partition and offset (no time window); `copies` is how
  many times the messageId arrived. An incremental run merges by messageId: every
  messageId with a copy on a given day is ranked again over all its copies (they lie on
  the int_changed_days days with messages_changed) and replaces its previous row (the
  pre-hook deletes those rows on those days).
-#}
{%- set plan = var('tracking_plan', {}) or {} -%}
{%- set partial = is_incremental() and var('changed_days', none) is not none -%}
-- depends_on: {{ ref('int_changed_days') }}

with candidates as (
    select *
    from {{ source('raw', 'events') }}
    {%- if partial %}
    where {{ eventlake.changed_days_filter('event_date', messages_only=true) }}
      and message_id in (
          select message_id from {{ source('raw', 'events') }}
          where {{ eventlake.given_days_filter('event_date') }}
      )
    {%- endif %}
),

ranked as (
    select
        *,
        row_number() over (
            partition by message_id
            order by received_at, bus_partition, bus_offset, event_date
        ) as arrival_rank,
        count(*) over (partition by message_id) as copies
    from candidates
),

winners as (
    select * from ranked where arrival_rank = 1
)

select
    message_id,
    type as event_type,
    case
        when type = 'track' then event
        when type in ('page', 'screen') then name
        else type
    end as event_name,
    user_id,
    anonymous_id,
    group_id,
    previous_id,
    {{ adapter.quote("timestamp") }} as event_at,
    original_timestamp as original_at,
    sent_at,
    received_at,
    event_date,
    {{ dbt.datediff('sent_at', 'received_at', 'second') }} as clock_skew_seconds,
    coalesce(source, 'unknown') as source,
    coalesce(lower({{ dbt.split_part('host', "':'", 1) }}), 'unknown') as host_provider,
    coalesce({{ eventlake.json_text('context', 'os.name') }}, 'unknown') as platform,
    coalesce({{ eventlake.json_text('context', 'location.country') }}, 'unknown') as country,
    {{ eventlake.json_text('context', 'locale') }} as locale,
    {{ eventlake.json_text('context', 'app.version') }} as app_version,
    user_agent,
    ip,
    properties,
    traits,
    context,
    bus_partition,
    bus_offset,
    copies
    {%- set seen = [] %}
    {%- for event_name, event_spec in plan.items() | sort %}
    {%- for prop, prop_spec in ((event_spec or {}).get('properties') or {}).items() | sort %}
    {%- set column = 'prop_' ~ (prop | lower | replace(' ', '_') | replace('-', '_') | replace('.', '_')) %}
    {%- if column not in seen %}
    {%- do seen.append(column) %}
    {%- set events_with = [] %}
    {%- for e2, s2 in plan.items() | sort %}
    {%- if prop in ((s2 or {}).get('properties') or {}) %}{% do events_with.append(e2) %}{% endif %}
    {%- endfor %},
    case when type = 'track' and event in (
        {%- for e2 in events_with %}'{{ e2 | replace("'", "''") }}'{% if not loop.last %}, {% endif %}{% endfor -%}
    ) then cast({{ eventlake.json_text('properties', prop) }} as {{ eventlake.plan_sql_type((prop_spec or {}).get('type', 'string')) }}) end as {{ column }}
    {%- endif %}
    {%- endfor %}
    {%- endfor %}
from winners
