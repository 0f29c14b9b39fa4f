-- Players ranked per place by their points in the 48 months ending each month (every event
-- they played, wherever it was held): one row per month and player with points in the
-- window, with their place (where they live) and their rank in their country, state and
-- metro area (1 = most points; ties share a rank). Filter a place and sort by points_48m
-- for its ranking.
select
    w.month_start,
    p.country,
    p.state,
    p.metro,
    p.player,
    w.player_id,
    w.events_48m,
    w.points_48m,
    rank() over (partition by w.month_start, p.country order by w.points_48m desc)
        as rank_in_country,
    case when p.state is not null then
        rank() over (partition by w.month_start, p.country, p.state order by w.points_48m desc)
    end as rank_in_state,
    case when p.metro is not null then
        rank() over (partition by w.month_start, p.country, p.metro order by w.points_48m desc)
    end as rank_in_metro
from {{ ref('player_windows') }} as w
join {{ ref('fct_players') }} as p on p.player_id = w.player_id
