{#- One row per Internet host provider (the request's Host header, lower-cased, port
    dropped; 'unknown' when absent). -#}

select
    host_provider,
    min(event_date) as first_seen_date,
    max(event_date) as last_seen_date,
    count(distinct user_key) as users,
    count(*) as events
from {{ ref('fct_events') }}
group by host_provider
