"""Bounded polling, shared by the process launchers (clusterkit.py, rediscluster.py); no
dependencies beyond the standard library, so rediscluster.py also runs as a plain script."""

from __future__ import annotations

import time
from typing import Any, Callable


def wait_until(pred: Callable[[], Any], timeout: float, interval: float = 0.05, what: str = "condition") -> Any:
    """Poll `pred` until it returns something truthy; bounded by `timeout` and an iteration cap."""
    deadline = time.monotonic() + timeout
    last: Any = None
    for _ in range(int(timeout / interval) + 2):
        last = pred()
        if last:
            return last
        if time.monotonic() > deadline:
            break
        time.sleep(interval)
    raise AssertionError(f"{what} not reached within {timeout}s (last: {last!r})")
