{#- The distinct id combinations of raw.events (one scan of the events for the identity
    graph, which then reads this small table several times). -#}

select distinct
    anonymous_id,
    user_id,
    case when type = 'alias' then previous_id end as previous_id,
    case when type = 'alias' then 'alias' else 'other' end as type
from {{ source('raw', 'events') }}
