"""`eventlake up` on the pinball example: the source on its cron, the models built after
each source run, the project's metrics served; no collector or lander for a project that
tracks no events.

The example's own models, seeds and dashboard in a temp project; the pinball API in a
thread on a free port; the source's cron has a seconds field (every 3 s) so runs come
quickly (the example's own is monthly).
"""

from __future__ import annotations

from pathlib import Path

import eventlake_tests_support as support
import httpx
import pytest

pytestmark = [pytest.mark.integration, pytest.mark.slow]

uphelp = support.load_helper("eventlake_tests_up", Path(__file__).with_name("uphelp.py"))
S = support.api_support()


def test_up_builds_the_pinball_models_after_each_source_run(tmp_path: Path) -> None:
    with S.running_api(players=60, tournaments=20) as (api, url):
        root = tmp_path / "pinball"
        root.mkdir()
        S.pinball_project(root, url, schedule="* * * * * */3")
        up = uphelp.UpProcess(root, uphelp.up_env(), ["up"])
        try:
            up.start()
            up.wait_running()
            # a project without tracked events: no collector, no lander
            assert set(up.children()) == {"build", "serve", "sources"}
            metrics = f"{up.serve_url}/api/metrics/tournament_cohorts.json?total=true"

            def served_tournaments() -> int:
                response = httpx.get(metrics, timeout=5)
                return int(response.json()["rows"][0]["tournaments"]) if response.is_success else 0

            uphelp.wait_for(lambda: served_tournaments() == 20, "the first build served")
            api.mutate(new_tournaments=3)
            uphelp.wait_for(
                lambda: served_tournaments() == 23, "the next source run's models served"
            )
            history = (root / "data/pipeline/runs.jsonl").read_text().splitlines()
            assert any('"sources_changed": ["sources.pinball"]' in h for h in history)
            assert any('"trigger": "up"' in h for h in history)
            listed = httpx.get(f"{up.serve_url}/api/dashboards").json()["dashboards"]
            assert [d["slug"] for d in listed] == ["pinball"]
            assert up.stop() == 0, up.log()
        finally:
            up.kill_tree()
