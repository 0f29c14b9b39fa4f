{{ config(
    materialized='incremental',
    pre_hook="{{ eventlake.delete_changed_rows('join_date', 'guild_join_id') }}",
    **eventlake.day_partitions('join_date')
) }}
{#- One row per Guild Joined event. -#}

select
    message_id as guild_join_id,
    user_key,
    event_at as joined_at,
    event_date as join_date,
    coalesce({{ eventlake.json_text('properties', 'guild_id') }}, 'unknown') as guild_id,
    coalesce({{ eventlake.json_text('properties', 'guild_name') }}, 'unknown') as guild_name,
    platform,
    country,
    host_provider
from {{ ref('fct_events') }}
where event_type = 'track' and event_name = 'Guild Joined'
  and {{ eventlake.changed_rows_filter('event_date', 'message_id', 'received_at') }}
