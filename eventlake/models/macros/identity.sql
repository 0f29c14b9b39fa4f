{#-
  The identity graph's pieces, shared by int_identity_ids, int_identity_changes and
  int_identity_map. Every anonymousId ('a:<id>') and userId ('u:<id>') is a node; an event
  carrying both ids, and an alias call (previousId -> userId, the previousId taken as
  either kind of id), is an edge.
-#}

{#- Distinct id combinations of raw-event rows: (anonymous_id, user_id, previous_id of an
    alias, 'alias' or 'other'). -#}
{% macro identity_combos(relation, where='1 = 1') -%}
    select distinct
        anonymous_id,
        user_id,
        case when type = 'alias' then previous_id end as previous_id,
        case when type = 'alias' then 'alias' else 'other' end as type
    from {{ relation }}
    where {{ where }}
{%- endmacro %}

{#- The edges (src, dst) of a relation of id combinations. -#}
{% macro identity_links(combos) -%}
    select 'a:' || anonymous_id as src, 'u:' || user_id as dst
    from {{ combos }}
    where anonymous_id is not null and user_id is not null
    union
    select 'u:' || previous_id as src, 'u:' || user_id as dst
    from {{ combos }}
    where type = 'alias' and previous_id is not null and user_id is not null
    union
    select 'a:' || previous_id as src, 'u:' || user_id as dst
    from {{ combos }}
    where type = 'alias' and previous_id is not null and user_id is not null
{%- endmacro %}

{#- The nodes of a relation of id combinations and of its edges. -#}
{% macro identity_nodes(combos, links) -%}
    select 'a:' || anonymous_id as node from {{ combos }} where anonymous_id is not null
    union
    select 'u:' || user_id as node from {{ combos }} where user_id is not null
    union
    select src as node from {{ links }}
    union
    select dst as node from {{ links }}
{%- endmacro %}

{#- The node an event is attributed through: its userId, else its anonymousId. -#}
{% macro attribution_node(user_id, anonymous_id) -%}
    case when {{ user_id }} is not null then 'u:' || {{ user_id }} else 'a:' || {{ anonymous_id }} end
{%- endmacro %}
