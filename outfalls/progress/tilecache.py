"""Vector tiles kept in memory while the catalogue has not changed.

A dashboard's tiles are read again and again (every leader of a province opens the same national and provincial
tiles, as of the same milestone days) while outfalls change a few times a minute at most. A tile is kept with the
change token (:mod:`outfalls.db.notify`) taken before it was made, and served only while the token is the same:
a commit anywhere that changes outfalls, milestones or the areas changes the token, and the whole cache is dropped.
The key holds everything the tile depends on besides the data (scope, zoom, day, filters, today's programme day);
the size is bounded in bytes, least recently used tiles going first (``cachetools``).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Hashable

from cachetools import LRUCache

from outfalls.db.notify import ChangeListener, Token


class TileCache:
    """Tiles by key, at most ``max_bytes`` of them; without a listener (or with 0 bytes) nothing is kept."""

    def __init__(self, listener: ChangeListener | None, max_bytes: int) -> None:
        self.listener = listener if max_bytes > 0 else None
        self.max_bytes = max_bytes
        self._tiles: LRUCache[Hashable, bytes] = LRUCache(maxsize=max(max_bytes, 1), getsizeof=len)
        self._token: Token | None = None
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def tile(self, key: Hashable, make: Callable[[], bytes], *, keep: bool = True) -> bytes:
        """The tile of ``key``: kept, or made by ``make()`` and kept when ``keep`` (False for a tile read from a
        replica, which may not have replayed the last change heard yet) and nothing changed while it was made.
        """
        listener = self.listener
        token = listener.token() if listener is not None else None
        if token is not None:
            with self._lock:
                if token != self._token:
                    self._tiles.clear()
                    self._token = token
                tile = self._tiles.get(key)
            if tile is not None:
                self.hits += 1
                return tile
        self.misses += 1
        tile = make()
        unchanged = token is not None and listener is not None and listener.token() == token
        if keep and unchanged and len(tile) <= self.max_bytes:
            with self._lock:
                if self._token == token:
                    self._tiles[key] = tile
        return tile

    @property
    def size(self) -> int:
        """Bytes of tiles kept."""
        with self._lock:
            return int(self._tiles.currsize)
