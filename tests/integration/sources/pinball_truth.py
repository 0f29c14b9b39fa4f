"""The pinball example's metrics computed independently: plain Python over the raw tables.

Written from the definitions in examples/pinball/README.md, not from the model SQL: the
raw tables the source loaded (``raw.pinball__players``, ``__tournaments``, ``__results``)
and the example's seed CSV files read with the csv module. A place is the country (by its
ISO-2 code, named from countries.csv) and, for a US postal code, the state and metro area
of its first five characters (zip_codes.csv, metro_areas.csv; no metro outside a CBSA).
The 48-month window of month M holds the events of M and the 47 months before it.

Loaded by path from the test modules (the tests folder is not a package).
"""

from __future__ import annotations

import csv
import datetime as dt
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

Query = Callable[[str], list[tuple[Any, ...]]]
Place = tuple[str, str | None, str | None, str | None]  # country, iso3, state, metro


def _rows(path: Path) -> list[dict[str, str]]:
    with open(path, encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


@dataclass
class Geography:
    countries: dict[str, tuple[str, str]]  # iso2 -> (name, iso3)
    zips: dict[str, tuple[str, str]]  # zip -> (state, metro code)
    metros: dict[str, str]  # metro code -> label

    @classmethod
    def load(cls, seeds: Path) -> Geography:
        return cls(
            {r["country_code"]: (r["country"], r["iso3"]) for r in _rows(seeds / "countries.csv")},
            {r["zip"]: (r["state"], r["metro_code"]) for r in _rows(seeds / "zip_codes.csv")},
            {r["metro_code"]: r["metro"] for r in _rows(seeds / "metro_areas.csv")},
        )

    def place(self, country_code: str | None, postal: str | None) -> Place:
        code = (country_code or "").upper()
        name, iso3 = self.countries.get(code, ("Unknown", None))
        state = metro = None
        if code == "US" and postal and postal[:5] in self.zips:
            state, metro_code = self.zips[postal[:5]]
            metro = self.metros.get(metro_code) if metro_code else None
        return name, iso3, state, metro


def month_index(day: dt.date) -> int:
    return day.year * 12 + day.month - 1


def month_start(index: int) -> dt.date:
    return dt.date(index // 12, index % 12 + 1, 1)


@dataclass
class Pinball:
    """The raw tables, with each player's and tournament's place."""

    players: dict[int, Place]
    names: dict[int, str]
    tournaments: dict[int, tuple[Place, int]]  # place, event month index
    results: list[tuple[int, int | None, float]]  # tournament, player (None: suppressed), points
    event_days: dict[int, dt.date]

    @classmethod
    def read(cls, query: Query, geo: Geography) -> Pinball:
        players, names = {}, {}
        for pid, first, last, country, postal in query(
            "SELECT player_id, first_name, last_name, country_code, postal_code "
            "FROM raw.pinball__players"
        ):
            players[int(pid)] = geo.place(country, postal)
            names[int(pid)] = f"{first} {last} #{int(pid)}"
        tournaments, days = {}, {}
        for tid, day, country, postal in query(
            "SELECT tournament_id, event_date, country_code, postal_code "
            "FROM raw.pinball__tournaments"
        ):
            d = day if isinstance(day, dt.date) else dt.date.fromisoformat(str(day)[:10])
            tournaments[int(tid)] = (geo.place(country, postal), month_index(d))
            days[int(tid)] = d
        results = [
            (int(tid), None if pid is None else int(pid), float(points))
            for tid, pid, points in query(
                "SELECT tournament_id, player_id, points FROM raw.pinball__results"
            )
        ]
        return cls(players, names, tournaments, results, days)

    def last_month(self) -> int:
        return max(self.tournaments[t][1] for t, _, _ in self.results)

    def in_window(self, tid: int, month: int) -> bool:
        return 0 <= month - self.tournaments[tid][1] <= 47

    def player_windows(self, month: int) -> dict[int, tuple[int, float]]:
        """Player -> (events, points) of the 48 months ending with ``month``."""
        out: dict[int, list[float]] = defaultdict(lambda: [0, 0.0])
        for tid, pid, points in self.results:
            if pid is not None and self.in_window(tid, month):
                out[pid][0] += 1
                out[pid][1] += points
        return {pid: (int(v[0]), v[1]) for pid, v in out.items()}

    def geography_summary(self, month: int) -> dict[tuple[Any, ...], tuple[int, float, int, int]]:
        """(country, iso3, state, metro) -> (players, points, tournaments, entries) of the
        48 months ending with ``month``: players by home, tournaments by venue."""
        rows: dict[tuple[Any, ...], list[float]] = defaultdict(lambda: [0, 0.0, 0, 0])
        for pid, (_, points) in self.player_windows(month).items():
            row = rows[self.players[pid]]
            row[0] += 1
            row[1] += points
        entries = Counter(tid for tid, _, _ in self.results)
        for tid, (place, _) in self.tournaments.items():
            if self.in_window(tid, month):
                rows[place][2] += 1
                rows[place][3] += entries[tid]
        return {k: (int(v[0]), v[1], int(v[2]), int(v[3])) for k, v in rows.items()}

    def international_summary(self, month: int) -> dict[str, tuple[int, float, int, int, int]]:
        """country -> (players, points, tournaments, entries, rank by points)."""
        sums: dict[str, list[float]] = defaultdict(lambda: [0, 0.0, 0, 0])
        for (country, _, _, _), values in self.geography_summary(month).items():
            for i, v in enumerate(values):
                sums[country][i] += v
        ranked = _ranks({c: v[1] for c, v in sums.items()})
        return {c: (int(v[0]), v[1], int(v[2]), int(v[3]), ranked[c]) for c, v in sums.items()}

    def top_players(self, month: int) -> dict[int, dict[str, Any]]:
        """Player -> place, events, points and ranks in their country, state and metro."""
        windows = self.player_windows(month)
        out: dict[int, dict[str, Any]] = {}
        for level, key in (
            ("rank_in_country", lambda p: (p[0],)),
            ("rank_in_state", lambda p: (p[0], p[2]) if p[2] else None),
            ("rank_in_metro", lambda p: (p[0], p[3]) if p[3] else None),
        ):
            groups: dict[Any, dict[int, float]] = defaultdict(dict)
            for pid, (_, points) in windows.items():
                k = key(self.players[pid])
                if k is not None:
                    groups[k][pid] = points
            for members in groups.values():
                for pid, rank in _ranks(members).items():
                    out.setdefault(pid, {})[level] = rank
        for pid, (events, points) in windows.items():
            country, _, state, metro = self.players[pid]
            row = out.setdefault(pid, {})
            row.setdefault("rank_in_state", None)
            row.setdefault("rank_in_metro", None)
            row.update(country=country, state=state, metro=metro, player=self.names[pid],
                       events_48m=events, points_48m=points)  # fmt: skip
        return out

    def players_by_years_active(self) -> dict[int, int]:
        years: dict[int, set[int]] = defaultdict(set)
        for tid, pid, _ in self.results:
            if pid is not None:
                years[pid].add(self.event_days[tid].year)
        return dict(Counter(len(y) for y in years.values()))

    def tournaments_by_format(self, query: Query) -> dict[str, int]:
        return dict(
            Counter(
                str(f or "unknown").lower()
                for (f,) in query("SELECT format FROM raw.pinball__tournaments")
            )
        )


def _ranks(values: dict[Any, float]) -> dict[Any, int]:
    """SQL's rank(): 1 for the largest; ties share a rank, the next one skips."""
    ordered = sorted(values.values(), reverse=True)
    return {k: 1 + sum(1 for o in ordered if o > v + 1e-9) for k, v in values.items()}


def rounded(values: Iterable[Any]) -> tuple[Any, ...]:
    """Numbers with a fraction (floats, decimals) rounded to 6 places, as floats."""
    return tuple(round(float(v), 6) if isinstance(v, float | Decimal) else v for v in values)
