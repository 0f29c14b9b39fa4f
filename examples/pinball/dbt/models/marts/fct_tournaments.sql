select
    t.tournament_id,
    t.tournament_name,
    t.event_date,
    cast({{ dbt.date_trunc('month', 't.event_date') }} as date) as event_month,
    t.city,
    t.postal_code,
    coalesce(r.region, 'Unknown') as region,
    t.player_count
from {{ ref('stg_tournaments') }} as t
left join {{ ref('postal_regions') }} as r
    on r.postal_prefix = substring(t.postal_code, 1, 2)
