"""`UploadStore`: decoded uploads by id, bounded in count and age, shared by the page and `/v1/files`."""

from __future__ import annotations

import secrets
import threading
import time
from collections import OrderedDict

from heartcare.serve.uploads import Upload


class UploadStore:
    """In memory only (nothing of a patient's file is kept on disk); least recently used goes first."""

    def __init__(self, capacity: int, ttl_s: float) -> None:
        self.capacity = capacity
        self.ttl_s = ttl_s
        self._items: OrderedDict[str, tuple[float, Upload]] = OrderedDict()
        self._lock = threading.Lock()

    def add(self, upload: Upload) -> str:
        identifier = "file-" + secrets.token_hex(12)  # unguessable: ids are the only handle on an upload
        with self._lock:
            self._expire()
            self._items[identifier] = (time.monotonic(), upload)
            while len(self._items) > self.capacity:
                self._items.popitem(last=False)
        return identifier

    def get(self, identifier: str) -> Upload | None:
        with self._lock:
            self._expire()
            entry = self._items.get(identifier)
            if entry is None:
                return None
            self._items.move_to_end(identifier)
            return entry[1]

    def created(self, identifier: str) -> float | None:
        with self._lock:
            entry = self._items.get(identifier)
            return entry[0] if entry else None

    def remove(self, identifier: str) -> bool:
        with self._lock:
            return self._items.pop(identifier, None) is not None

    def __len__(self) -> int:
        with self._lock:
            return len(self._items)

    def _expire(self) -> None:
        oldest = time.monotonic() - self.ttl_s
        for identifier in [key for key, (added, _) in self._items.items() if added < oldest]:
            del self._items[identifier]
