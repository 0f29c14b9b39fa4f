-- Players who played at least one event, by how long and how much they play: years active
-- (distinct calendar years with an event), engagement (events per active year, in bands),
-- the year they started, and where they live. Every measure adds up (a player is in one
-- row).
select
    years_active,
    case
        when events_per_year < 2 then '1: under 2 events a year'
        when events_per_year < 4 then '2: 2-3 events a year'
        when events_per_year < 8 then '3: 4-7 events a year'
        else '4: 8 or more events a year'
    end as engagement,
    first_year,
    country,
    state,
    metro,
    count(*) as players,
    sum(events) as events,
    sum(points) as points,
    sum(cast(years_active as double precision)) as player_years
from {{ ref('player_careers') }}
group by 1, 2, 3, 4, 5, 6
