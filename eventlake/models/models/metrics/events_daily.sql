{{ config(
    materialized='incremental',
    pre_hook="{{ eventlake.delete_changed_days('event_date') }}",
    **eventlake.day_partitions('event_date')
) }}
{#- Events per day, event name, source and platform; users = distinct users in that row
    (not additive across rows). -#}

select
    event_date,
    event_type,
    event_name,
    source,
    platform,
    count(*) as events,
    count(distinct user_key) as users
from {{ ref('fct_events') }}
where {{ eventlake.changed_days_filter('event_date') }}
group by event_date, event_type, event_name, source, platform
