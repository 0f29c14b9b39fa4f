{#- The days the data covers, one row: the first and the last day with activity and the
    first and last event times. The first day and the last day are partial days (the data
    starts during the first one; the last one is still being filled), so averages over a
    range count only the complete days strictly between them. Serve reads it to mark
    partial days and to bound the date spine of daily series. Rebuilt whole each run. -#}

select
    min(activity_date) as first_day,
    max(activity_date) as last_day,
    min(first_event_at) as first_event_at,
    max(last_event_at) as last_event_at,
    count(distinct activity_date) as active_days
from {{ ref('int_user_days') }}
