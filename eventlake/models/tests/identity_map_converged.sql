-- The identity map is a fixpoint: no identify/alias link joins two different components
-- (fails if an alias chain is longer than var('identity_passes') hops).
with links as (
    select 'a:' || anonymous_id as src, 'u:' || user_id as dst
    from {{ ref('int_identity_ids') }}
    where anonymous_id is not null and user_id is not null
    union
    select 'u:' || previous_id as src, 'u:' || user_id as dst
    from {{ ref('int_identity_ids') }}
    where type = 'alias' and previous_id is not null and user_id is not null
)
select l.src, l.dst, a.component as src_component, b.component as dst_component
from links as l
inner join {{ ref('int_identity_map') }} as a on a.node = l.src
inner join {{ ref('int_identity_map') }} as b on b.node = l.dst
where a.component <> b.component
