"""A lander process for the scale-out crash test (run as a script, not collected by pytest).

Usage: ``python lander_proc.py CONFIG WORKDIR NAME``. Lands with ``Lander.run(follow=True)``
until SIGTERM. After each lake commit it appends ``topic/partition first-last`` to
``WORKDIR/NAME.log``. When ``WORKDIR/NAME.pause`` exists, the next lake commit (the batch's
bus offsets not yet committed, other partitions of the batch possibly still being written)
writes ``WORKDIR/NAME.paused`` and blocks, so the test can ``kill -9`` it mid-batch.
"""

from __future__ import annotations

import signal
import sys
import time
from pathlib import Path
from types import FrameType

from eventlake.bus import TopicPartition
from eventlake.config import load_config
from eventlake.land import Lander


def main() -> None:
    config, workdir, name = sys.argv[1], Path(sys.argv[2]), sys.argv[3]
    settings = load_config(config)
    log = workdir / f"{name}.log"
    stop = {"now": False}

    def hook(stage: str, tp: TopicPartition) -> None:
        if stage != "lake_committed":
            return
        with open(log, "a", encoding="utf-8") as out:
            out.write(f"{tp.topic}/{tp.partition}\n")
        if (workdir / f"{name}.pause").exists():
            (workdir / f"{name}.paused").write_text("paused")
            while True:
                time.sleep(1)

    def on_term(signum: int, frame: FrameType | None) -> None:
        stop["now"] = True

    signal.signal(signal.SIGTERM, on_term)
    lander = Lander.from_settings(settings, hook=hook)
    (workdir / f"{name}.started").write_text("started")
    try:
        lander.run(follow=True, should_stop=lambda: stop["now"])
    finally:
        lander.close()


if __name__ == "__main__":
    main()
