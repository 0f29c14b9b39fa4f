{#- Generic test: rows in raw.events = rows in the model + duplicates removed (raw rows -
    distinct messageIds). Together with the model's unique messageId test, nothing was lost
    and nothing was kept twice. Fails with the counts. -#}
{% test reconciles_with_raw(model) %}
    with raw_counts as (
        select count(*) as raw_rows, count(distinct message_id) as raw_ids
        from {{ source('raw', 'events') }}
    ),
    model_counts as (
        select count(*) as model_rows from {{ model }}
    )
    select r.raw_rows, m.model_rows, r.raw_rows - r.raw_ids as duplicates_removed
    from raw_counts as r
    cross join model_counts as m
    where r.raw_rows <> m.model_rows + (r.raw_rows - r.raw_ids)
{% endtest %}
