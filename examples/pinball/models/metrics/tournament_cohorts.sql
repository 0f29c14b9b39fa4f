-- Tournaments by month held, size band (entries), format and place: how many, their
-- entries and the points they awarded. Every measure adds up.
select
    t.event_month as month_start,
    t.size_band,
    t.format,
    t.country,
    t.state,
    t.metro,
    count(*) as tournaments,
    sum(t.entries) as entries,
    sum(coalesce(p.points, 0)) as points
from {{ ref('fct_tournaments') }} as t
left join (
    select tournament_id, sum(points) as points
    from {{ ref('fct_tournament_results') }}
    group by tournament_id
) as p on p.tournament_id = t.tournament_id
group by 1, 2, 3, 4, 5, 6
