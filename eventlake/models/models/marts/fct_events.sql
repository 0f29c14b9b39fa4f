{{ config(
    materialized='incremental',
    pre_hook="{{ eventlake.delete_changed_rows('event_date', 'message_id') }}",
    **eventlake.day_partitions('event_date')
) }}
{#- One row per event (messageId), attributed to its stitched user: events sent before an
    identify belong to that user too. -#}

select
    m.user_key,
    e.*
from {{ ref('stg_events') }} as e
inner join {{ ref('int_identity_map') }} as m
    on m.node = {{ eventlake.attribution_node('e.user_id', 'e.anonymous_id') }}
where {{ eventlake.changed_rows_filter('e.event_date', 'e.message_id') }}
