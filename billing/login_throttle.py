"""Failed logins: after too many in a row, a username is locked for a while, never for good.

Kept per server process and in memory: enough to stop a password guesser at
the form (each guess also waits longer, see `ui.auth.login_form`), and reset
by a restart. The rule is plain Python with an injected clock, so it is
tested without waiting. A lock is time-boxed on purpose: a permanent one
would let anyone lock a colleague out by typing wrong passwords.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class LockPolicy:
    """`max_failures` failures within `window_seconds` lock the username for `lock_seconds`."""

    max_failures: int = 5
    window_seconds: float = 15 * 60
    lock_seconds: float = 15 * 60


DEFAULT_POLICY = LockPolicy()


class LoginThrottle:
    """Counts failed logins per username (lower-cased) and says which are locked now.

    Thread-safe: every session of the server shares one instance.
    """

    def __init__(
        self, policy: LockPolicy = DEFAULT_POLICY, *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.policy = policy
        self._clock = clock
        self._lock = threading.Lock()
        self._failures: dict[str, list[float]] = {}
        self._locked_until: dict[str, float] = {}

    def seconds_locked(self, username: str) -> float:
        """How long `username` stays locked from now; 0 when it may try to log in."""
        key = username.strip().lower()
        with self._lock:
            until = self._locked_until.get(key)
            if until is None:
                return 0.0
            left = until - self._clock()
            if left <= 0:
                del self._locked_until[key]
                return 0.0
            return left

    def failed(self, username: str) -> bool:
        """Record a failed attempt; True when this one locks the username."""
        key = username.strip().lower()
        with self._lock:
            now = self._clock()
            recent = [
                t for t in self._failures.get(key, []) if now - t < self.policy.window_seconds
            ]
            recent.append(now)
            if len(recent) >= self.policy.max_failures:
                self._locked_until[key] = now + self.policy.lock_seconds
                self._failures.pop(key, None)
                return True
            self._failures[key] = recent
            return False

    def succeeded(self, username: str) -> None:
        """A correct login clears the username's failures."""
        with self._lock:
            self._failures.pop(username.strip().lower(), None)
