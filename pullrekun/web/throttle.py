"""How often a login may be tried: per login and per client address, in a sliding window.

Guessing passwords online needs many tries; a person needs few. Past ``limit`` failed tries in
``window`` seconds for one login, or from one address, the next is answered 429 with how long
to wait, whatever the password (so a right guess is not told apart either). A try counts from
its start (forty at once are forty tries) and is given back when the password was right, so
people signing in from one office are not held up by each other. Kept in the serve
process's memory: a restart forgets it, which costs an attacker a restart of ours.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable


class LoginThrottle:
    def __init__(
        self, limit: int = 10, window: float = 60.0, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._limit = limit
        self._window = window
        self._clock = clock
        self._lock = threading.Lock()
        self._tries: dict[str, deque[float]] = {}

    def attempt(self, login: str, address: str) -> float:
        """Count one try; 0 if it may go ahead, else the seconds until it may."""
        now = self._clock()
        keys = (f"login:{login.lower()}", f"address:{address}")
        with self._lock:
            wait = 0.0
            for key in keys:
                tries = self._tries.setdefault(key, deque())
                while tries and now - tries[0] >= self._window:
                    tries.popleft()
                if len(tries) >= self._limit:
                    wait = max(wait, self._window - (now - tries[0]))
            if wait:
                return wait
            for key in keys:
                self._tries[key].append(now)
            if len(self._tries) > 10_000:  # a flood of made-up logins: forget the idle ones
                self._tries = {k: v for k, v in self._tries.items() if v and now - v[-1] < self._window}
            return 0.0

    def succeeded(self, login: str, address: str) -> None:
        """The try was a right password: it does not count."""
        with self._lock:
            for key in (f"login:{login.lower()}", f"address:{address}"):
                tries = self._tries.get(key)
                if tries:
                    tries.pop()
