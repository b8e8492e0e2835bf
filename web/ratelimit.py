"""Per-address rate limits for the pages anyone may call (public pages and reports): a fixed window counted in
this process's memory, so a single address cannot flood the catalogue; beyond the limit the answer is 429 with
``Retry-After``; behind a reverse proxy, the proxy's own limits protect the whole deployment.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from werkzeug.exceptions import TooManyRequests


class RateLimiter:
    """At most ``limit`` calls per ``window_s`` seconds for each key (an address)."""

    def __init__(self, limit: int, window_s: float, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.limit, self.window_s, self._clock = limit, window_s, clock
        self._counts: dict[str, tuple[float, int]] = {}
        self._lock = threading.Lock()

    def hit(self, key: str) -> None:
        """Count one call of ``key``.

        Raises:
            TooManyRequests: the key has used up its calls of the current window.
        """
        now = self._clock()
        with self._lock:
            if len(self._counts) > 100_000:  # forget finished windows rather than grow without bound
                self._counts = {k: v for k, v in self._counts.items() if now - v[0] < self.window_s}
            start, count = self._counts.get(key, (now, 0))
            if now - start >= self.window_s:
                start, count = now, 0
            if count >= self.limit:
                retry = max(1, int(self.window_s - (now - start)) + 1)
                raise TooManyRequests(retry_after=retry)
            self._counts[key] = (start, count + 1)
