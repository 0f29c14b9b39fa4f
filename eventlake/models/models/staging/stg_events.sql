{{ config(
    materialized='incremental',
    incremental_strategy='append',
    pre_hook="{{ eventlake.delete_changed_days('event_date') }}"
) }}
{#-
  One row per messageId across all history. The first arrival wins, deterministically:
  ordered by received_at, then bus partition and offset (no time window). Incremental runs
  rank every copy of the messageIds seen on the rebuilt days (int_changed_days includes the
  days of the other copies) and keep the winners that fall on those days.
-#}
{%- set plan = var('tracking_plan', {}) or {} -%}

with candidates as (
    select *
    from {{ source('raw', 'events') }}
    {% if is_incremental() %}
    where message_id in (
        select message_id from {{ source('raw', 'events') }}
        where {{ eventlake.changed_days_filter('event_date') }}
    )
    {% endif %}
),

ranked as (
    select
        *,
        row_number() over (
            partition by message_id
            order by received_at, bus_partition, bus_offset, event_date
        ) as arrival_rank
    from candidates
),

winners as (
    select * from ranked
    where arrival_rank = 1
      and {{ eventlake.changed_days_filter('event_date') }}
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
    bus_offset
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
