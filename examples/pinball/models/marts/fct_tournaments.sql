-- One row per tournament: where it was held, its format, size (entries) and size band.
with entries as (
    select tournament_id, count(*) as entries
    from {{ ref('stg_tournament_results') }}
    group by tournament_id
)
select
    t.tournament_id,
    t.tournament_name,
    t.event_date,
    {{ month_of('t.event_date') }} as event_month,
    t.city,
    t.country_code,
    t.postal_code,
    {{ geography_columns() }},
    coalesce(t.format, 'unknown') as format,
    t.player_count,
    coalesce(e.entries, 0) as entries,
    case
        when coalesce(e.entries, 0) < 16 then '1: under 16'
        when e.entries < 32 then '2: 16-31'
        when e.entries < 64 then '3: 32-63'
        else '4: 64 and more'
    end as size_band
from {{ ref('stg_tournaments') }} as t
left join entries as e on e.tournament_id = t.tournament_id
{{ geography_joins('t') }}
