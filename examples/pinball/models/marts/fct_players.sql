-- One row per player with where they live: country, and for a US ZIP its state and metro.
select
    p.player_id,
    {{ dbt.concat(["p.first_name", "' '", "p.last_name", "' #'", "cast(p.player_id as varchar)"]) }}
        as player,
    p.first_name,
    p.last_name,
    p.country_code,
    p.postal_code,
    {{ geography_columns() }},
    p.rating_value,
    p.updated_at
from {{ ref('stg_players') }} as p
{{ geography_joins('p') }}
