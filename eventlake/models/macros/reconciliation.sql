{#- Generic test: rows in raw.events = rows in the model + duplicates removed, i.e. the
    sum of the model's `copies` (how many times each messageId arrived) is the number of
    raw rows. Together with the model's unique messageId test, nothing was lost and nothing
    was kept twice: a messageId missing from the model, or a row whose copies were not
    counted again when another copy arrived, leaves the sum short (raw rows are only ever
    added). Reads two counts, no scan of the messageIds. Fails with the counts. -#}
{% test reconciles_with_raw(model) %}
    with raw_counts as (
        select count(*) as raw_rows from {{ source('raw', 'events') }}
    ),

    model_counts as (
        select count(*) as model_rows, coalesce(sum(copies), 0) as copies
        from {{ model }}
    )

    select r.raw_rows, m.model_rows, m.copies - m.model_rows as duplicates_removed
    from raw_counts as r
    cross join model_counts as m
    where r.raw_rows <> m.copies
{% endtest %}
