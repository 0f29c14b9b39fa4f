{{ config(
    materialized='incremental',
    incremental_strategy='append',
    pre_hook="{{ eventlake.delete_changed_days('event_date') }}"
) }}
{#- One row per event (messageId), attributed to its stitched user: events sent before an
    identify belong to that user too. -#}

select
    m.user_key,
    e.*
from {{ ref('stg_events') }} as e
inner join {{ ref('int_identity_map') }} as m
    on m.node = case
        when e.user_id is not null then 'u:' || e.user_id
        else 'a:' || e.anonymous_id
    end
where {{ eventlake.changed_days_filter('e.event_date') }}
