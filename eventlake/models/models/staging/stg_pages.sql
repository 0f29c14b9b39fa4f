{#- The page calls of stg_events (one row per messageId). -#}
select * from {{ ref('stg_events') }} where event_type = 'page'
