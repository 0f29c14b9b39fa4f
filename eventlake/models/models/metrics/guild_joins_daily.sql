{{ config(
    materialized='incremental',
    pre_hook="{{ eventlake.delete_changed_days('join_date') }}",
    **eventlake.day_partitions('join_date')
) }}
{#- Guild joins per day, guild and platform: joins and distinct joining users. -#}

select
    join_date,
    guild_id,
    guild_name,
    platform,
    count(*) as joins,
    count(distinct user_key) as users
from {{ ref('fct_guild_joins') }}
where {{ eventlake.changed_days_filter('join_date') }}
group by join_date, guild_id, guild_name, platform
