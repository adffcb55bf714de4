"""Failed sign-ins: a few free tries per name and address, then doubling waits."""

from __future__ import annotations

from daybreak.access.throttle import (
    BASE_WAIT_S,
    FREE_PER_ADDRESS,
    FREE_PER_NAME,
    MAX_WAIT_S,
    WINDOW_S,
    LoginThrottle,
)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_few_free_failures_then_doubling_waits() -> None:
    clock = Clock()
    throttle = LoginThrottle(clock)
    for _ in range(FREE_PER_NAME - 1):
        throttle.failed("mo", "10.0.0.1")
        assert throttle.wait_s("mo", "10.0.0.1") == 0
    throttle.failed("MO", "10.0.0.1")  # names match whatever their case
    assert throttle.wait_s("mo", "10.0.0.1") == BASE_WAIT_S
    clock.now += 10
    assert throttle.wait_s("mo", "10.0.0.1") == BASE_WAIT_S - 10
    assert throttle.wait_s("vi", "10.0.0.1") == 0  # someone else at the same place is not held
    assert throttle.wait_s("mo", "10.0.0.2") == 0  # nor the same name from elsewhere
    clock.now += BASE_WAIT_S
    assert throttle.wait_s("mo", "10.0.0.1") == 0
    throttle.failed("mo", "10.0.0.1")
    assert throttle.wait_s("mo", "10.0.0.1") == 2 * BASE_WAIT_S
    for _ in range(10):
        throttle.failed("mo", "10.0.0.1")
    assert throttle.wait_s("mo", "10.0.0.1") == MAX_WAIT_S


def test_success_and_time_forget_failures() -> None:
    clock = Clock()
    throttle = LoginThrottle(clock)
    for _ in range(FREE_PER_NAME):
        throttle.failed("mo", "10.0.0.1")
    throttle.succeeded("mo", "10.0.0.1")
    assert throttle.wait_s("mo", "10.0.0.1") == 0
    for _ in range(FREE_PER_NAME):
        throttle.failed("vi", "10.0.0.1")
    clock.now += WINDOW_S + 1
    assert throttle.wait_s("vi", "10.0.0.1") == 0


def test_guessing_across_names_from_one_address_is_held_too() -> None:
    throttle = LoginThrottle(Clock())
    for i in range(FREE_PER_ADDRESS):
        throttle.failed(f"user{i}", "10.0.0.9")
    assert throttle.wait_s("someone-new", "10.0.0.9") == BASE_WAIT_S
    assert throttle.wait_s("someone-new", "10.0.0.8") == 0
