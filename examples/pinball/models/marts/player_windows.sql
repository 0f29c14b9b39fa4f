-- A player's rolling 48 months: one row per month (from the first to the last month with a
-- result) and player with a result in the 48 months ending with that month, with how many
-- events they played and the points they earned in them. The span is the one in which an
-- event's value counts toward a player's ranking.
with bounds as (
    select min(event_month) as first_month, max(event_month) as last_month
    from {{ ref('fct_tournament_results') }}
),
months as (
    select c.month_start
    from {{ ref('calendar') }} as c
    cross join bounds as b
    where c.month_start >= b.first_month and c.month_start <= b.last_month
)
select
    m.month_start,
    r.player_id,
    count(*) as events_48m,
    sum(r.points) as points_48m
from months as m
join {{ ref('fct_tournament_results') }} as r
    on {{ in_48_months('m.month_start', 'r.event_month') }}
where r.player_id is not null
group by m.month_start, r.player_id
