select
    p.player_id,
    p.first_name,
    p.last_name,
    p.country_code,
    p.postal_code,
    coalesce(r.region, 'Unknown') as region,
    r.division,
    p.rating_value,
    p.updated_at
from {{ ref('stg_players') }} as p
left join {{ ref('postal_regions') }} as r
    on r.postal_prefix = substring(p.postal_code, 1, 2)
