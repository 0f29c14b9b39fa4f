"""Declared measures: how each measure of a metric model aggregates across rows.

A metric model's YAML declares, in ``config.meta.eventlake.measures``, every measure and its
aggregation (vocabulary after dbt's MetricFlow: ``agg``, ``entity``, ratio ``numerator`` /
``denominator``; see docs/metrics.md)::

    measures:
      - {name: revenue, agg: sum, unit: currency}
      - {name: dau, agg: count_distinct, entity: user_key, grain: int_user_days,
         additive_across: [platform, country, host_provider]}
      - {name: arpdau, agg: ratio, numerator: revenue, denominator: dau}
      - {name: wau, agg: last, window_days: 7, additive_across: [platform]}

``agg``:

- ``sum``, ``count``: additive: rows add up across every column;
- ``count_distinct``: distinct ``entity`` values (users). Rows add up only across the
  columns in ``additive_across`` (those whose values split the entities into disjoint
  sets, e.g. each user-day belongs to one platform); across any other column the API
  recounts the entities from ``grain`` (a model holding one row per entity and date column
  value, with the metric's dimensions as columns; ``when_positive`` lists columns of it
  that must be > 0), or refuses with a 400 when no grain is declared;
- ``ratio``: ``numerator`` / ``denominator`` (two other measures), recomputed from them;
- ``last``: a window value (e.g. users active in the 7 days ending that day): over several
  days the value of the range's last day; across other columns as ``additive_across``;
- ``average``: the daily value averaged over the days of the range (days without a row
  count as 0); across other columns as ``additive_across``.

:func:`normalise_measures` checks a declaration and returns it in the catalog's form; the
catalog writer turns ``grain`` into the model's relation.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from eventlake.errors import ModelBuildError

__all__ = ["AGGREGATIONS", "normalise_measures"]

#: Every ``agg`` a measure may declare.
AGGREGATIONS = ("sum", "count", "count_distinct", "ratio", "last", "average")
_KEYS = {
    "name",
    "agg",
    "entity",
    "grain",
    "when_positive",
    "additive_across",
    "numerator",
    "denominator",
    "window_days",
    "unit",
    "description",
}
_UNITS = ("currency", "users", "count", "ratio")


def _fail(model: str, message: str) -> ModelBuildError:
    return ModelBuildError(
        f"metric model {model!r}: {message} (config.meta.eventlake.measures in its YAML; "
        "see docs/metrics.md)"
    )


def _names(value: Any, model: str, where: str) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise _fail(model, f"{where} must be a list of column names")
    return [str(v) for v in value]


def normalise_measures(
    model: str,
    declared: Any,
    columns: Sequence[str],
    date_column: str | None,
    dimensions: Sequence[str],
    resolve_model: Mapping[str, str],
) -> list[dict[str, Any]]:
    """The measures of one metric model in the catalog's form.

    Args:
        model: the model's name (for messages).
        declared: ``meta.eventlake.measures``: a list of mappings (or of bare names, which
            declare no aggregation: the API then serves their rows but never aggregates
            them), or None for every column that is neither the date column nor a dimension.
        columns: the model's columns.
        date_column, dimensions: the model's declared date column and dimensions.
        resolve_model: model name -> relation (``schema.name``) for ``grain``.

    Raises:
        ModelBuildError: an invalid declaration (names the model and the key).
    """
    grain_columns = ([date_column] if date_column else []) + list(dimensions)
    if declared is None:
        skip = set(grain_columns)
        return [{"name": c, "agg": None} for c in columns if c not in skip]
    if not isinstance(declared, list):
        raise _fail(model, "measures must be a list")
    out: list[dict[str, Any]] = []
    for item in declared:
        if isinstance(item, str):
            out.append({"name": item, "agg": None})
            continue
        if not isinstance(item, dict):
            raise _fail(model, f"a measure must be a mapping, got {item!r}")
        unknown = sorted(set(item) - _KEYS)
        if unknown:
            raise _fail(model, f"measure {item.get('name')!r} has unknown key {unknown[0]!r}")
        name = item.get("name")
        if not isinstance(name, str) or not name:
            raise _fail(model, f"a measure has no name: {item!r}")
        agg = item.get("agg")
        if agg not in AGGREGATIONS:
            raise _fail(model, f"measure {name!r}: agg must be one of {', '.join(AGGREGATIONS)}")
        entry: dict[str, Any] = {"name": name, "agg": agg}
        across = _names(item.get("additive_across"), model, f"measure {name!r} additive_across")
        for col in across:
            if col not in grain_columns:
                raise _fail(
                    model,
                    f"measure {name!r}: additive_across names {col!r}, which is neither the "
                    "date column nor a dimension",
                )
        if agg == "count_distinct":
            entity = item.get("entity")
            if not isinstance(entity, str):
                raise _fail(model, f"measure {name!r}: count_distinct needs an entity column")
            entry["entity"] = entity
            grain = item.get("grain")
            if grain is not None:
                if grain not in resolve_model:
                    raise _fail(model, f"measure {name!r}: grain {grain!r} is no model")
                entry["grain"] = resolve_model[grain]
            entry["when_positive"] = _names(
                item.get("when_positive"), model, f"measure {name!r} when_positive"
            )
            if entry["when_positive"] and grain is None:
                raise _fail(model, f"measure {name!r}: when_positive needs a grain")
        if agg in ("count_distinct", "last", "average"):
            entry["additive_across"] = across
        if agg == "ratio":
            for part in ("numerator", "denominator"):
                ref = item.get(part)
                if not isinstance(ref, str):
                    raise _fail(model, f"measure {name!r}: ratio needs a {part}")
                entry[part] = ref
        if agg in ("last", "average") and not date_column:
            raise _fail(model, f"measure {name!r}: agg {agg} needs a date_column")
        if item.get("window_days") is not None:
            days = item["window_days"]
            if isinstance(days, bool) or not isinstance(days, int) or days < 1:
                raise _fail(model, f"measure {name!r}: window_days must be a positive integer")
            entry["window_days"] = days
        unit = item.get("unit")
        if unit is not None:
            if unit not in _UNITS:
                raise _fail(model, f"measure {name!r}: unit must be one of {', '.join(_UNITS)}")
            entry["unit"] = unit
        out.append(entry)
    names = [m["name"] for m in out]
    for m in out:
        if names.count(m["name"]) > 1:
            raise _fail(model, f"measure {m['name']!r} is declared twice")
        if m["name"] not in columns:
            raise _fail(model, f"measure {m['name']!r} is not a column of the model")
        for part in ("numerator", "denominator"):
            ref = m.get(part)
            if ref is not None and ref not in names:
                raise _fail(model, f"measure {m['name']!r}: {part} {ref!r} is not a measure")
    return out
