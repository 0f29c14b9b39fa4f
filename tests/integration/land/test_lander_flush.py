"""A following lander lands its open batch when a model run asks (``land/flush.py``).

A real local bus and lake, the lander in a thread. ``max_age_seconds`` is an hour, so a
batch that lands during the test landed because it was asked to: what is checked is what
the lake holds (each message once) after each answered request, never a timing.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from eventlake.config import Settings, load_config
from eventlake.land import Lander
from eventlake.land.flush import FlushRequests, flush_folder

from .conftest import PLAN
from .test_lander import _lake_ids

pytestmark = pytest.mark.integration


def _settings(root: Path) -> Settings:
    (root / "plan.yaml").write_text(PLAN)
    return load_config(
        None,
        base_dir=root,
        spec={"tracking_plan": "plan.yaml"},
        bus={"path": "bus", "partitions": 3},
        lake={"path": "lake"},
        land={"max_age_seconds": 3600.0},
    )


def _wait(check: Callable[[], bool], what: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.01)


@pytest.fixture
def following(tmp_path: Path) -> Iterator[Callable[[], tuple[Settings, FlushRequests]]]:
    """Start a following lander with flush requests in a thread (stopped at the end)."""
    stop = threading.Event()
    threads: list[threading.Thread] = []
    landers: list[Lander] = []

    def start() -> tuple[Settings, FlushRequests]:
        settings = _settings(tmp_path)
        folder = flush_folder(tmp_path / "state")
        lander = Lander.from_settings(settings, flush=FlushRequests(folder))
        landers.append(lander)
        thread = threading.Thread(
            target=lander.run, kwargs={"follow": True, "should_stop": stop.is_set}, daemon=True
        )
        thread.start()
        threads.append(thread)
        return settings, FlushRequests(folder)

    yield start
    stop.set()
    for thread in threads:
        thread.join(60)
    for lander in landers:
        lander.close()


def test_an_open_batch_lands_when_a_run_asks_not_when_it_is_an_hour_old(following, events_appender):
    settings, requests = following()
    lake = Path(settings.lake_uri())
    good, _ = events_appender(settings, 250)
    _wait(requests.holding, "the lander to open a batch")
    assert _lake_ids(lake) == Counter()  # an hour from landing by age
    assert requests.ask(wait=60)
    # answered: every record on the bus when the lander saw the request is in the lake
    assert _lake_ids(lake) == Counter(good)
    assert not requests.holding()

    more, _ = events_appender(settings, 120, start=250)
    _wait(requests.holding, "the lander to open the next batch")
    assert requests.ask(wait=60)
    assert _lake_ids(lake) == Counter(good + more)

    # nothing on the bus: answered at once, nothing landed twice
    assert requests.ask(wait=60)
    assert _lake_ids(lake) == Counter(good + more)


def test_a_request_made_before_the_lander_started_is_answered_by_its_first_batch(
    tmp_path, following, events_appender
):
    settings = _settings(tmp_path)
    good, _ = events_appender(settings, 80)
    early = FlushRequests(flush_folder(tmp_path / "state"))
    answered: list[bool] = []
    asking = threading.Thread(target=lambda: answered.append(early.ask(wait=60)))
    asking.start()
    time.sleep(0.2)  # the request is on disk before the lander exists
    following()
    asking.join(90)
    assert answered == [True]
    assert _lake_ids(Path(settings.lake_uri())) == Counter(good)


def test_an_unanswered_request_gives_up_after_its_wait(tmp_path):
    """No lander: the run waits its bound, then loads what the lake holds."""
    requests = FlushRequests(flush_folder(tmp_path / "state"))
    assert requests.ask(wait=0.2) is False
    assert not requests.holding()
