-- A result whose player is suppressed has no player_id: it is still a valid row, keyed by
-- (tournament_id, position).
with ranked as (
    select
        cast(tournament_id as integer) as tournament_id,
        cast(position as integer) as finish_position,
        cast(player_id as integer) as player_id,
        -- exact to the cent: sums and ranks come out the same on every engine
        cast(points as decimal(12, 2)) as points,
        row_number() over (
            partition by tournament_id, position order by _eventlake_commit_id desc
        ) as rn
    from {{ source('pinball', 'results') }}
)
select tournament_id, finish_position, player_id, points
from ranked
where rn = 1
