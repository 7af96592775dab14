"""The loop of the background processes (reminder scheduler, mailer): a pass, a pause, until SIGTERM or ``--once``."""
from __future__ import annotations

import argparse
import signal
import sys
import time
from datetime import datetime, timezone
from typing import Callable


def wall_clock() -> datetime:
    """The time now, in UTC: the clock these processes inject into the code they run."""
    return datetime.now(timezone.utc)


def arguments(prog: str, doc: str, once_help: str, argv=None) -> argparse.Namespace:
    """The processes' command line: ``--once`` and nothing else (the rest is configuration)."""
    parser = argparse.ArgumentParser(prog=prog, description=doc.split("\n")[0])
    parser.add_argument("--once", action="store_true", help=once_help)
    return parser.parse_args(sys.argv[1:] if argv is None else argv)


def run(one_pass: Callable[[], bool], interval_seconds: float, *, once: bool = False) -> int:
    """Call ``one_pass`` every ``interval_seconds`` until SIGTERM (a pass under way is finished first); with ``once``,
    until a pass answers False. ``one_pass`` answers whether more work may be waiting now (then no pause)."""
    stopping = []
    signal.signal(signal.SIGTERM, lambda *_: stopping.append(1))
    while True:
        more = one_pass()
        if stopping:
            return 0
        if more:
            continue
        if once:
            return 0
        for _ in range(int(interval_seconds * 10)):
            if stopping:
                return 0
            time.sleep(0.1)
