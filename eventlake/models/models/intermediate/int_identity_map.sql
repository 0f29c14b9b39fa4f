{{ config(
    materialized=eventlake.incremental_or_table(),
    incremental_strategy='append',
    pre_hook="{{ eventlake.delete_where(
        'node in (select node from ' ~ ref('int_identity_changes') ~ ')') }}"
) }}
{#-
  Identity graph: node -> connected component -> user_key. Components are found by
  min-label propagation unrolled var('identity_passes') times (portable: no recursive CTE),
  each pass one hop; the test identity_map_converged fails if a chain is longer than that.
  A component's user_key is its userId that is never an alias previousId (the end of the
  alias chain; ties: the smallest), or the anonymousId itself when nobody identified.

  Incremental: only the nodes of int_identity_changes are recomputed (deleted by the
  pre-hook, inserted again): the components that a new link merged, starting from their
  previous labels so that a merge takes as many passes as new hops, not as the whole
  chain. Their edges come from int_identity_ids rows that touch those nodes.

  On Spark (no DELETE, and the changed nodes are not whole days of anything) the map is a
  table rebuilt whole by every run: every node, from no previous label. It still runs
  after int_identity_changes, which reads the previous map.
-#}
{%- set passes = var('identity_passes', 16) -%}
{%- set partial = is_incremental() and var('changed_days', none) is not none -%}
{%- set whole = config.get('materialized') == 'table' -%}
{%- if whole %}
-- depends_on: {{ ref('int_identity_changes') }}

with combos as (
    select anonymous_id, user_id, previous_id, type from {{ ref('int_identity_ids') }}
),

links as (
    {{ eventlake.identity_links('combos') }}
),

changed as (
    select node, cast(null as {{ dbt.type_string() }}) as old_component
    from ({{ eventlake.identity_nodes('combos', 'links') }}) as nodes
),
{%- else %}

with changed as (
    select node, old_component from {{ ref('int_identity_changes') }}
),

combos as (
    select anonymous_id, user_id, previous_id, type
    from {{ ref('int_identity_ids') }}
    {%- if partial %}
    where 'a:' || anonymous_id in (select node from changed)
       or 'u:' || user_id in (select node from changed)
    {%- endif %}
),

links as (
    {{ eventlake.identity_links('combos') }}
),
{%- endif %}

edges as (
    select src as a, dst as b from links
    union all
    select dst as a, src as b from links
    union all
    select node as a, node as b from changed
),

label_0 as (
    select node, coalesce(old_component, node) as label from changed
),
{% for i in range(1, passes + 1) %}
label_{{ i }} as (
    select e.a as node, min(p.label) as label
    from edges as e
    inner join label_{{ i - 1 }} as p on p.node = e.b
    group by e.a
),
{% endfor %}

components as (
    select c.node, l.label
    from changed as c
    inner join label_{{ passes }} as l on l.node = c.node
),

known_users as (
    select distinct user_id from combos where user_id is not null
),

alias_sources as (
    select distinct previous_id from combos where type = 'alias' and previous_id is not null
),

candidates as (
    select
        c.label,
        k.user_id,
        case when s.previous_id is null then 0 else 1 end as is_alias_source
    from components as c
    inner join known_users as k on c.node = 'u:' || k.user_id
    left join alias_sources as s on s.previous_id = k.user_id
),

ranked as (
    select
        label,
        user_id,
        row_number() over (partition by label order by is_alias_source, user_id) as rn
    from candidates
),

canonical as (
    select label, user_id from ranked where rn = 1
)

select
    c.node,
    c.label as component,
    coalesce(k.user_id, substr(c.label, 3)) as user_key,
    case when k.user_id is null then false else true end as is_identified
from components as c
left join canonical as k on k.label = c.label
