{#-
  The identity-graph nodes this run recomputes, with the component and user_key the
  previous build gave them (null for a new node): the nodes of every component that a
  link of the given days' rows joins to another component, and the nodes that are new.
  Any other node keeps its component, since links are never removed. A full rebuild (or
  no previous map) lists every node.

  The previous map is read with previous_relation() (int_identity_map runs after this
  model, which it refs).
-#}
{%- set old_map = eventlake.previous_relation('int_identity_map') -%}
{%- set text = dbt.type_string() -%}
-- depends_on: {{ ref('int_identity_ids') }}
-- depends_on: {{ source('raw', 'events') }}

{% if var('changed_days', none) is none or old_map is none %}

with combos as (
    select * from {{ ref('int_identity_ids') }}
),

links as (
    {{ eventlake.identity_links('combos') }}
),

nodes as (
    {{ eventlake.identity_nodes('combos', 'links') }}
)

select
    node,
    cast(null as {{ text }}) as old_component,
    cast(null as {{ text }}) as old_user_key
from nodes

{% else %}

with combos as (
    {{ eventlake.identity_combos(source('raw', 'events'), eventlake.arrived_rows_filter('event_date')) }}
),

links as (
    {{ eventlake.identity_links('combos') }}
),

nodes as (
    {{ eventlake.identity_nodes('combos', 'links') }}
),

old_map as (
    select node, component, user_key from {{ old_map }}
),

joining_links as (
    select l.src, l.dst
    from links as l
    left join old_map as s on s.node = l.src
    left join old_map as d on d.node = l.dst
    where s.component is null or d.component is null or s.component <> d.component
),

seeds as (
    select src as node from joining_links
    union
    select dst as node from joining_links
    union
    select n.node
    from nodes as n
    left join old_map as m on m.node = n.node
    where m.node is null
),

touched_components as (
    select distinct m.component
    from seeds as s
    inner join old_map as m on m.node = s.node
)

select m.node, m.component as old_component, m.user_key as old_user_key
from old_map as m
where m.component in (select component from touched_components)
union all
select s.node, cast(null as {{ text }}) as old_component, cast(null as {{ text }}) as old_user_key
from seeds as s
left join old_map as m on m.node = s.node
where m.node is null

{% endif %}
