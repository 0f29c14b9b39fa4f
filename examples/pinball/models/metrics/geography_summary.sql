-- Per month and place (country, state, metro area): the rolling 48 months ending that month.
-- Players and their points by where the players live; tournaments and their entries by
-- where they were held. Every measure adds up across places (a player lives in one place, a
-- tournament is held in one); over months the API takes the range's last month.
with months as (
    select distinct month_start from {{ ref('player_windows') }}
),
players as (
    select
        w.month_start, p.country, p.country_iso3, p.state, p.metro,
        count(*) as players_48m,
        sum(w.points_48m) as points_48m,
        0 as tournaments_48m,
        0 as entries_48m
    from {{ ref('player_windows') }} as w
    join {{ ref('fct_players') }} as p on p.player_id = w.player_id
    group by w.month_start, p.country, p.country_iso3, p.state, p.metro
),
tournaments as (
    select
        m.month_start, t.country, t.country_iso3, t.state, t.metro,
        0 as players_48m,
        0 as points_48m,
        count(*) as tournaments_48m,
        sum(t.entries) as entries_48m
    from months as m
    join {{ ref('fct_tournaments') }} as t
        on {{ in_48_months('m.month_start', 't.event_month') }}
    group by m.month_start, t.country, t.country_iso3, t.state, t.metro
),
both_sides as (
    select * from players
    union all
    select * from tournaments
)
select
    month_start,
    country,
    country_iso3,
    state,
    metro,
    sum(players_48m) as players_48m,
    sum(points_48m) as points_48m,
    sum(tournaments_48m) as tournaments_48m,
    sum(entries_48m) as entries_48m,
    sum(points_48m) / nullif(sum(players_48m), 0) as points_per_player
from both_sides
group by month_start, country, country_iso3, state, metro
