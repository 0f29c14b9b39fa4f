"""Regenerate docs/configuration.md from the settings classes (run after adding a setting)."""

from __future__ import annotations

from pathlib import Path

from eventlake.config import settings_reference

HEADER = """# Configuration reference

Generated from `eventlake/config.py` by `python scripts/config_reference.py`; do not edit by
hand. Settings come from `eventlake.toml` (see `eventlake init`) and are overridden by
environment variables `EVENTLAKE_<SECTION>__<KEY>` (upper case; nested sections joined by
`__`; dicts and lists as JSON), e.g. `EVENTLAKE_COLLECT__PORT=9000`,
`EVENTLAKE_COLLECT__WRITE_KEYS='{"key": "web"}'`. `EVENTLAKE_CONFIG` names the config file.
Relative paths are relative to the config file's folder.

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
