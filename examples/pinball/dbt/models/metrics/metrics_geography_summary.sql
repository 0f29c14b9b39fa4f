-- Per region and calendar month: activity in the 48 months ending with that month
-- (a rolling 48-month window, as ranking systems count it).
with months as (
    select month_start
    from {{ ref('calendar') }}
    where month_start >= (select min(event_month) from {{ ref('fct_tournaments') }})
      and month_start <= (select max(event_month) from {{ ref('fct_tournaments') }})
),
regions as (
    select distinct region from {{ ref('postal_regions') }}
    union
    select 'Unknown'
),
results as (
    select region, event_date, tournament_id, player_id, points
    from {{ ref('fct_tournament_results') }}
)
select
    m.month_start,
    g.region,
    count(distinct r.tournament_id) as tournaments_48m,
    count(r.tournament_id) as results_48m,
    count(distinct r.player_id) as players_48m,
    coalesce(sum(r.points), 0) as points_48m
from months as m
cross join regions as g
left join results as r
    on r.region = g.region
    and r.event_date >= {{ dbt.dateadd('month', -47, 'm.month_start') }}
    and r.event_date < {{ dbt.dateadd('month', 1, 'm.month_start') }}
group by m.month_start, g.region
