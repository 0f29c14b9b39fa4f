-- One row per player, typed. raw is already one row per player_id (the source's rule); the
-- guard keeps staging right if raw is ever appended to instead of rebuilt.
with ranked as (
    select
        cast(player_id as integer) as player_id,
        first_name,
        last_name,
        upper(country_code) as country_code,
        postal_code,
        cast(rating__value as double precision) as rating_value,
        cast(rating__rank as varchar) as rating_rank,
        cast(updated_at as timestamp) as updated_at,
        row_number() over (partition by player_id order by updated_at desc) as rn
    from {{ source('pinball', 'players') }}
)
select player_id, first_name, last_name, country_code, postal_code, rating_value,
       rating_rank, updated_at
from ranked
where rn = 1
