{{ config(
    materialized='incremental',
    incremental_strategy='append',
    pre_hook="{{ eventlake.delete_all_on_full_rebuild() }}"
) }}
{#- The distinct id combinations of raw.events (the identity graph's edges and nodes, read
    several times from this small table instead of the events). Raw rows are only ever
    added, so an incremental run appends the combinations of the given days' rows that
    are not here yet. -#}

with given as (
    {{ eventlake.identity_combos(source('raw', 'events'), eventlake.arrived_rows_filter('event_date')) }}
)

select anonymous_id, user_id, previous_id, type from given
{% if is_incremental() and var('changed_days', none) is not none %}
{{ dbt.except() }}
select anonymous_id, user_id, previous_id, type from {{ this }}
{% endif %}
