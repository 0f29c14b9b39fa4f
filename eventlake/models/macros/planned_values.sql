{#- Generic test: the column holds only the values the tracking plan allows for
    `event`.`property` (no rule in the plan: nothing to test). -#}
{% test planned_values(model, column_name, event, property) %}
    {%- set plan = var('tracking_plan', {}) or {} -%}
    {%- set spec = ((plan.get(event) or {}).get('properties') or {}).get(property) or {} -%}
    {%- set allowed = spec.get('allowed') or [] -%}
    select {{ column_name }} as value
    from {{ model }}
    where {{ column_name }} is not null
    {%- if allowed %}
      and {{ column_name }} not in (
        {%- for v in allowed %}'{{ v | string | replace("'", "''") }}'{% if not loop.last %}, {% endif %}{% endfor -%}
      )
    {%- else %}
      and 1 = 0
    {%- endif %}
{% endtest %}
