-- Players who played at least one event, by how long and how much they play: years active
-- (distinct calendar years with an event), engagement (events per active year, in bands),
-- the year they started, and where they live. Every measure adds up (a player is in one
-- row).
select
    years_active,
    case
        when events_per_year < 1.5 then '1: about one event a year'
        when events_per_year < 3 then '2: 1.5 to 3 a year'
        when events_per_year < 6 then '3: 3 to 6 a year'
        else '4: 6 or more a year'
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
