-- Per month and country: the rolling 48 months ending that month, as geography_summary but
-- for every country (outside the US, a country is the only place known), with the country's
-- rank by points.
with by_country as (
    select
        month_start,
        country,
        country_iso3,
        sum(players_48m) as players_48m,
        sum(points_48m) as points_48m,
        sum(tournaments_48m) as tournaments_48m,
        sum(entries_48m) as entries_48m
    from {{ ref('geography_summary') }}
    group by month_start, country, country_iso3
)
select
    month_start,
    country,
    country_iso3,
    players_48m,
    points_48m,
    tournaments_48m,
    entries_48m,
    points_48m / nullif(players_48m, 0) as points_per_player,
    rank() over (partition by month_start order by points_48m desc) as country_rank
from by_country
