"""Regenerate docs/configuration.md from the settings classes (run after adding a setting)."""

from __future__ import annotations

from pathlib import Path

from eventlake.config import settings_reference

HEADER = """# Configuration reference

Generated from `eventlake/config.py` by `python scripts/config_reference.py`; do not edit by
hand. Settings come from `eventlake.toml` (see `eventlake init`) and are overridden by
environment variables `EVENTLAKE_<SECTION>__<KEY>` (upper case; nested sections joined by
`__`; dicts and lists as JSON), e.g. `EVENTLAKE_COLLECT__PORT=9000`,
`EVENTLAKE_COLLECT__WRITE_KEYS='{"key": "web"}'`. Relative paths are relative to the
config file's folder.

**Which file.** `eventlake --config FILE` or `EVENTLAKE_CONFIG`, else the project is found
the way git finds a repository: `eventlake.toml` in the working folder, then in each parent
folder. A verb that needs a project (every one but `init`, `demo`, `generate --to` a URL
or a file, and `--help`) and finds none stops with `error: no eventlake project here: ...`
instead of running on built-in defaults in whatever folder it was started.

**Errors and typos.** A bad value names where it came from: the variable
(`invalid setting 'collect.port' from the environment (EVENTLAKE_COLLECT__PORT): ...`),
else the file. An `EVENTLAKE_*` variable that sets nothing is reported on stderr with the
name it probably meant (`warning: EVENTLAKE_COLECT__PORT is not an eventlake setting and is
ignored; did you mean EVENTLAKE_COLLECT__PORT?`); a key misspelled inside a known section
is an error. Not reported: `EVENTLAKE_CONFIG`, the example game API's
`EVENTLAKE_WRITE_KEY`, `EVENTLAKE_COLLECTOR_URL` and `EVENTLAKE_TRACKER_BUFFER`, and names
without a `__` that look like no section (e.g. a REST source's `auth.env` secret such as
`EVENTLAKE_PINBALL_TOKEN`).

| key | default | meaning |
|---|---|---|
"""


def _esc(text: str) -> str:
    return text.replace("|", "\\|")


def main() -> None:
    rows = [
        f"| `{key}` | `{_esc(default)}` | {_esc(help_)} |"
        for key, default, help_ in settings_reference()
    ]
    target = Path(__file__).resolve().parent.parent / "docs" / "configuration.md"
    target.write_text(HEADER + "\n".join(rows) + "\n", encoding="utf-8")
    print(f"wrote {target} ({len(rows)} settings)")


if __name__ == "__main__":
    main()
