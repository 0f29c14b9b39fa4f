-- One row per player who played at least one event: their years active (distinct calendar
-- years with an event), first year, events, events per active year and points.
with played as (
    select
        player_id,
        count(*) as events,
        sum(points) as points,
        count(distinct cast(extract(year from event_date) as integer)) as years_active,
        min(cast(extract(year from event_date) as integer)) as first_year,
        max(event_date) as last_event_date
    from {{ ref('fct_tournament_results') }}
    where player_id is not null
    group by player_id
)
select
    p.player_id,
    p.player,
    p.country,
    p.state,
    p.metro,
    played.events,
    played.points,
    played.years_active,
    played.first_year,
    played.last_event_date,
    cast(played.events as double precision) / played.years_active as events_per_year
from played
join {{ ref('fct_players') }} as p on p.player_id = played.player_id
