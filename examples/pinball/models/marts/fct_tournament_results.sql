-- One row per finishing position. The key is the tournament and the position, never the
-- player: a suppressed player's result has no player_id and is kept.
select
    {{ dbt.concat(["cast(r.tournament_id as varchar)", "'-'", "cast(r.finish_position as varchar)"]) }}
        as result_key,
    r.tournament_id,
    r.finish_position,
    r.player_id,
    r.player_id is null as is_suppressed,
    r.points,
    t.event_date,
    t.event_month
from {{ ref('stg_tournament_results') }} as r
join {{ ref('fct_tournaments') }} as t
    on t.tournament_id = r.tournament_id
