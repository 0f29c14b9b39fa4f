{{ config(
    materialized='incremental',
    pre_hook="{{ eventlake.delete_arrived_messages() }}",
    **eventlake.day_partitions('event_date')
) }}
{#-
  One row per messageId across all history. The first arrival wins, deterministically:
  ordered by received_at, then bus partition and offset (no time window); copies that tie
  on all of those (the same messageId twice in one bus record) are told apart by their
  content. `copies` is how many times the messageId arrived.

  The ranking reads only the key columns; the winning rows are then picked out of
  raw.events by a join whose probe side is raw.events itself, so they come out in its
  order, which is by day (the raw layer loads a day at a time): the table stays clustered
  by event_date, and the day filters of later runs skip the other days' row groups. (The
  tied winners, rare, are picked by a second join with a tiny build side instead of a
  window over every row.)

  An incremental run merges by messageId: every messageId with a copy on a given day is
  ranked again over all its copies (they lie on the int_changed_days days with
  messages_changed) and replaces its previous row (the pre-hook deletes those rows there).
  On Spark the pre-hook drops those days' partitions instead, so every messageId with a
  copy there is ranked again over all its copies (found by a probe of raw.events'
  messageIds): a messageId that got no new copy keeps its winner, and one whose winner
  lies on another day is left there (macros/incremental_spark.sql).
-#}
{%- set plan = var('tracking_plan', {}) or {} -%}
{%- set partial = is_incremental() and var('changed_days', none) is not none -%}
{#- insert_overwrite (Spark) replaces whole days: every row of them is emitted -#}
{%- set whole_days = config.get('incremental_strategy') == 'insert_overwrite' -%}
-- depends_on: {{ ref('int_changed_days') }}
{%- set message_days = eventlake.rebuilt_day_list(messages_only=true) if partial -%}
{%- set winner_rows -%}
    from {{ source('raw', 'events') }} as c
    inner join winners as w
        on w.message_id = c.message_id
        and w.received_at = c.received_at
        and w.bus_partition = coalesce(c.bus_partition, -1)
        and w.bus_offset = coalesce(c.bus_offset, -1)
        and w.event_date = c.event_date
    where {{ eventlake.in_days('c.event_date', message_days) if partial else '1 = 1' }}
{%- endset %}

with keys as (
    select
        message_id,
        received_at,
        coalesce(bus_partition, -1) as bus_partition,
        coalesce(bus_offset, -1) as bus_offset,
        event_date
    from {{ source('raw', 'events') }}
    {%- if partial and whole_days %}
    where message_id in (
        select message_id from {{ source('raw', 'events') }}
        where {{ eventlake.in_days('event_date', message_days) }}
    )
    {%- elif partial %}
    where {{ eventlake.in_days('event_date', message_days) }}
      and message_id in ({{ eventlake.arrived_message_ids() }})
    {%- endif %}
),

ranked as (
    select
        message_id,
        received_at,
        bus_partition,
        bus_offset,
        event_date,
        row_number() over arrival as arrival_rank,
        count(*) over (partition by message_id) as copies,
        case
            when lead(message_id) over arrival is not null
                and lead(received_at) over arrival = received_at
                and lead(bus_partition) over arrival = bus_partition
                and lead(bus_offset) over arrival = bus_offset
                and lead(event_date) over arrival = event_date
            then 1 else 0
        end as tied
    from keys
    window arrival as (
        partition by message_id order by received_at, bus_partition, bus_offset, event_date
    )
),

winners as (
    select message_id, received_at, bus_partition, bus_offset, event_date, copies, tied
    from ranked
    where arrival_rank = 1
),

picked as (
    select c.*, w.copies, 1 as content_rank
    {{ winner_rows }}
      and w.tied = 0
    union all
    select
        c.*,
        w.copies,
        row_number() over (
            partition by c.message_id
            order by c.properties, c.traits, c.context, c.type, c.event, c.name, c.user_id,
                c.anonymous_id, c.{{ adapter.quote("timestamp") }}, c.sent_at
        ) as content_rank
    {{ winner_rows }}
      and w.tied = 1
),

winners_rows as (
    select * from picked where content_rank = 1
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
    -- The event's own context.ip (a server-side tracker sets the player's there), else the
    -- address the collector saw.
    coalesce({{ eventlake.json_text('context', 'ip') }}, ip) as ip,
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
from winners_rows
