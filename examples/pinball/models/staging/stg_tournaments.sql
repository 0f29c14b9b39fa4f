with ranked as (
    select
        cast(tournament_id as integer) as tournament_id,
        name as tournament_name,
        cast(event_date as date) as event_date,
        city,
        upper(country_code) as country_code,
        postal_code,
        lower(format) as format,
        cast(player_count as integer) as player_count,
        cast(updated_at as timestamp) as updated_at,
        row_number() over (partition by tournament_id order by updated_at desc) as rn
    from {{ source('pinball', 'tournaments') }}
)
select tournament_id, tournament_name, event_date, city, country_code, postal_code, format,
       player_count, updated_at
from ranked
where rn = 1
