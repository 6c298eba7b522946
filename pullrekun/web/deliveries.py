"""Which webhook deliveries were already taken (GitHub redelivers with the same id)."""

from __future__ import annotations

import threading
from collections import OrderedDict


class DeliveryLog:
    """The last ``limit`` delivery ids, in memory. A redelivery after a restart triggers one pass
    more, which is harmless: a delivery is only ever a trigger."""

    def __init__(self, limit: int = 10_000) -> None:
        self._seen: OrderedDict[str, None] = OrderedDict()
        self._limit = limit
        self._lock = threading.Lock()

    def first_time(self, delivery: str) -> bool:
        """Record ``delivery``; False if it was seen before."""
        with self._lock:
            if delivery in self._seen:
                self._seen.move_to_end(delivery)
                return False
            self._seen[delivery] = None
            while len(self._seen) > self._limit:
                self._seen.popitem(last=False)
            return True
