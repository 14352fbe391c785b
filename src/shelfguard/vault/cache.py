"""A small, short-lived, in-process cache of unwrapped data keys.

Opening a data key costs a keystore read and an unwrap; a page or a SIP2
exchange often opens the same key several times in a row. Keys stay here
for at most TTL_SECONDS and at most MAX_KEYS of them, and never leave
process memory (no pickling, no shared cache).

Destroying a key removes it from this process's cache at once. Other
processes (other web workers, the SIP2 server) keep a copy for at most
TTL_SECONDS: that bounds how long an erased key can still open values there.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections import OrderedDict
from typing import Any

TTL_SECONDS = 30.0
MAX_KEYS = 2048


class KeyCache:
    """Least-recently-used entries, each expiring TTL seconds after it was added."""

    def __init__(self, max_keys: int = MAX_KEYS, ttl: float = TTL_SECONDS) -> None:
        self.max_keys = max_keys
        self.ttl = ttl
        self._entries: OrderedDict[uuid.UUID, tuple[float, Any]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key_id: uuid.UUID) -> Any | None:
        now = time.monotonic()
        with self._lock:
            entry = self._entries.get(key_id)
            if entry is None:
                return None
            expires, value = entry
            if expires <= now:
                del self._entries[key_id]
                return None
            self._entries.move_to_end(key_id)
            return value

    def put(self, key_id: uuid.UUID, value: Any) -> None:
        with self._lock:
            self._entries[key_id] = (time.monotonic() + self.ttl, value)
            self._entries.move_to_end(key_id)
            while len(self._entries) > self.max_keys:
                self._entries.popitem(last=False)

    def discard(self, key_id: uuid.UUID) -> None:
        with self._lock:
            self._entries.pop(key_id, None)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()

    def __len__(self) -> int:
        with self._lock:
            return len(self._entries)


key_cache = KeyCache()
