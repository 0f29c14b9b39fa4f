{{ config(
    materialized='incremental',
    pre_hook="{{ eventlake.delete_changed_user_days() }}",
    **eventlake.day_partitions('activity_date')
) }}
{#- One row per user and day they were active: the day's attributes (platform, country,
    host provider of their first event that day), first and last event times and counts. Every metric with dimensions
    reads this, so each user-day falls in exactly one dimension combination and the
    measures add up across dimension values. A changed day also rebuilds the next day,
    whose session starts it can change (a session crossing midnight). When only the
    arriving messages' rows changed and each was new, int_user_day_changes has the
    user-days they change, merged with their previous rows: those are written instead
    (docs/models.md, "User-days below the day"). -#}
-- depends_on: {{ ref('int_user_day_changes') }}
{% if eventlake.user_day_changes_apply() %}
select
    user_key,
    activity_date,
    platform,
    country,
    host_provider,
    first_event_at,
    last_event_at,
    events,
    sessions,
    levels_completed,
    guild_joins,
    purchases,
    revenue
from {{ ref('int_user_day_changes') }}
where change = 'insert'
order by activity_date
{%- else %}

with events as (
    select
        {{ eventlake.user_day_event_columns() }}
    from {{ ref('fct_events') }}
    where {{ eventlake.changed_days_filter('event_date', 0, 1) }}
),

firsts as (
    select user_key, event_date, platform, country, host_provider
    from (
        select
            user_key, event_date, platform, country, host_provider,
            {{ eventlake.user_day_rank() }} as rn
        from events
    ) as ranked
    where rn = 1
),

counts as (
    select
        user_key,
        event_date,
        min(event_at) as first_event_at,
        max(event_at) as last_event_at,
        count(*) as events,
        sum(is_level_completed) as levels_completed,
        sum(is_guild_join) as guild_joins
    from events
    group by user_key, event_date
),

purchases as (
    select user_key, purchase_date, count(*) as purchases, sum(revenue) as revenue
    from {{ ref('fct_purchases') }}
    where {{ eventlake.changed_days_filter('purchase_date', 0, 1) }}
    group by user_key, purchase_date
),

sessions as (
    select user_key, session_date, count(*) as sessions
    from {{ ref('fct_sessions') }}
    where {{ eventlake.changed_days_filter('session_date', 0, 1) }}
    group by user_key, session_date
)

select
    c.user_key,
    c.event_date as activity_date,
    f.platform,
    f.country,
    f.host_provider,
    c.first_event_at,
    c.last_event_at,
    c.events,
    coalesce(s.sessions, 0) as sessions,
    c.levels_completed,
    c.guild_joins,
    coalesce(p.purchases, 0) as purchases,
    coalesce(p.revenue, 0) as revenue
from counts as c
inner join firsts as f on f.user_key = c.user_key and f.event_date = c.event_date
left join purchases as p on p.user_key = c.user_key and p.purchase_date = c.event_date
left join sessions as s on s.user_key = c.user_key and s.session_date = c.event_date
-- clustered by day: later runs' day filters skip the other days' row groups
order by c.event_date
{%- endif %}
