"""The failed-login lock: counted per username, within a window, for a fixed time."""

from __future__ import annotations

from billing.login_throttle import LockPolicy, LoginThrottle


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


POLICY = LockPolicy(max_failures=3, window_seconds=60, lock_seconds=300)


def test_the_third_failure_within_the_window_locks_for_the_lock_time() -> None:
    clock = Clock()
    throttle = LoginThrottle(POLICY, clock=clock)
    assert throttle.failed("Clerk") is False
    clock.now += 10
    assert throttle.failed("clerk") is False
    clock.now += 10
    assert throttle.failed(" CLERK ") is True  # the same username, however typed
    assert throttle.seconds_locked("clerk") == 300
    clock.now += 299
    assert throttle.seconds_locked("clerk") == 1
    clock.now += 1
    assert throttle.seconds_locked("clerk") == 0  # time-boxed, never permanent


def test_failures_outside_the_window_are_forgotten() -> None:
    clock = Clock()
    throttle = LoginThrottle(POLICY, clock=clock)
    throttle.failed("clerk")
    throttle.failed("clerk")
    clock.now += 60  # both failures are now a full window old
    assert throttle.failed("clerk") is False
    assert throttle.seconds_locked("clerk") == 0


def test_a_success_clears_the_count_and_other_users_are_untouched() -> None:
    clock = Clock()
    throttle = LoginThrottle(POLICY, clock=clock)
    throttle.failed("clerk")
    throttle.failed("clerk")
    throttle.succeeded("clerk")
    assert throttle.failed("clerk") is False
    for _ in range(3):
        throttle.failed("manager")
    assert throttle.seconds_locked("manager") > 0
    assert throttle.seconds_locked("clerk") == 0


def test_after_a_lock_expires_the_count_starts_again() -> None:
    clock = Clock()
    throttle = LoginThrottle(POLICY, clock=clock)
    for _ in range(3):
        throttle.failed("clerk")
    clock.now += 300
    assert throttle.seconds_locked("clerk") == 0
    assert throttle.failed("clerk") is False  # one failure, not a fourth
