{{ config(materialized='view', meta={'keep_unchanged_view': true}) }}
{#- One row per event (messageId), attributed to its stitched user: events sent before an
    identify belong to that user too.

    A view, not a table: stg_events already holds every event once (deduplicated), and
    the attribution is a join with int_identity_map (one row per identity node, a few
    bytes per player). Stored, it was a third copy of every event, JSON text included,
    that each run rewrote for the arriving rows, tested, and compressed again in the
    other warehouse generation (docs/models.md, "fct_events is a view"); and a change of
    identity meant rebuilding every day of the user's events, where the view just reads
    the new map. Its grain is stg_events' (unique messageId, tested there) because the
    map has one row per node (int_identity_map's grain test). Both inputs are
    incremental tables that an incremental run never re-creates, so an unchanged view is
    kept from run to run (keep_unchanged_view, macros/view_duckdb.sql). -#}

select
    m.user_key,
    e.*
from {{ ref('stg_events') }} as e
inner join {{ ref('int_identity_map') }} as m
    on m.node = {{ eventlake.attribution_node('e.user_id', 'e.anonymous_id') }}
