"""Features of uploaded ECGs remembered while the upload lives, so follow-up questions skip the encoders.

The page asks every question about the same uploaded file; Beat, the drawing and the image
encoder would give the same features each time (all deterministic, the model frozen). Entries
are keyed by the identity of the stored `Ecg` / `Picture` objects and held through weak
references, so an upload the store evicts takes its features with it. Inline ECG parts are
decoded afresh per request and never hit.
"""

from __future__ import annotations

import threading
import weakref
from collections import OrderedDict

from heartcare.model.ask import ecg_features

MAX_ENTRIES = 128


class FeatureMemo:
    def __init__(self, capacity: int = MAX_ENTRIES) -> None:
        self.capacity = capacity
        self._entries: OrderedDict[tuple[int, int], tuple[weakref.ref | None, weakref.ref | None, object]] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = 0

    def __call__(self, model, ecg, picture):
        key = (id(ecg), id(picture))
        with self._lock:
            entry = self._entries.get(key)
            # Ids are reused after garbage collection: only a live reference to the very same objects counts.
            if entry is not None and _alive(entry[0], ecg) and _alive(entry[1], picture):
                self._entries.move_to_end(key)
                self.hits += 1
                return entry[2]
        features = ecg_features(model, ecg, picture)
        with self._lock:
            self._entries[key] = (_reference(ecg), _reference(picture), features)
            while len(self._entries) > self.capacity:
                self._entries.popitem(last=False)
        return features


def _reference(value) -> weakref.ref | None:
    return None if value is None else weakref.ref(value)


def _alive(reference: weakref.ref | None, value) -> bool:
    return (reference is None and value is None) or (reference is not None and reference() is value)
