"""`eventlake up --role sources`: a REST source runs on its own cron schedule, unattended.

The pinball example API runs in a thread on a free port (tests/integration/sources); the
source's cron expression has a seconds field (every 2 s), so two runs come quickly. Runs
are counted from the source's saved state in the lake, the rows from the warehouse.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import eventlake_tests_support as support
import httpx
import pytest
import yaml

pytestmark = pytest.mark.integration

uphelp = support.load_helper("eventlake_tests_up", Path(__file__).with_name("uphelp.py"))
api_support = support.api_support()


def test_a_rest_source_runs_on_its_cron_schedule(up_factory: Any) -> None:
    from eventlake.sources import api_source_status

    with api_support.running_api(players=40, tournaments=3) as (api, url):

        def setup(root: Path) -> str:
            definition = api_support.pinball_definition(url)
            (root / "pinball.yaml").write_text(yaml.safe_dump(definition))
            return (
                '[sources.api.pinball]\ndefinition = "pinball.yaml"\n'
                '[schedule]\napi = { pinball = "* * * * * */2" }\n'
            )

        up = up_factory("--role", "sources", setup=setup)
        up.wait_running(["sources"])
        settings = up.settings()
        runs: set[str] = set()

        def two_runs() -> bool:
            status = api_source_status(settings, "pinball").to_dict()
            runs.update(
                str(r["last_completed_run"]) for r in status["resources"] if r["last_completed_run"]
            )
            return len(runs) >= 2

        uphelp.wait_for(two_runs, "two scheduled runs of the pinball source")
        stats = httpx.get(f"{url}/_admin/stats").json()
        assert stats["requests"] > 0
        rows = api_support.query(settings, "select count(*) from raw.pinball__players")
        assert rows[0][0] == stats["totals"]["players"]
        # only the sources role runs: no collector, lander, builder or server
        assert set(up.children()) == {"sources"}
        assert up.stop() == 0
