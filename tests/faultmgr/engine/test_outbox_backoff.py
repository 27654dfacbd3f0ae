"""The outbox's retry delay: exponential from ``initial``, capped at ``max_delay``, jitter adding up to its share,
and a channel's Retry-After honoured even beyond the cap."""

from __future__ import annotations

import random

import pytest

from faultmgr.config.model import RetryPolicy
from faultmgr.engine.outbox import backoff

POLICY = RetryPolicy(initial=1.0, factor=2.0, max_delay=10.0, jitter=0.2)


def test_exponential_then_capped_without_jitter() -> None:
    exact = RetryPolicy(initial=0.5, factor=3.0, max_delay=20.0, jitter=0.0)
    assert [backoff(exact, n) for n in range(1, 6)] == [0.5, 1.5, 4.5, 13.5, 20.0]
    assert backoff(exact, 0) == 0.5  # a row never tried yet waits the first delay, not less
    assert backoff(exact, 500) == 20.0  # no overflow far past the cap


@pytest.mark.parametrize("attempts", [1, 2, 3, 4, 5, 12])
def test_jitter_stays_within_its_share_of_the_delay(attempts: int) -> None:
    base = min(10.0, 2.0 ** (attempts - 1))
    assert backoff(POLICY, attempts, rand=lambda: 0.0) == base
    assert backoff(POLICY, attempts, rand=lambda: 0.999999) == pytest.approx(base * 1.2, rel=1e-5)
    rng = random.Random(attempts)
    samples = [backoff(POLICY, attempts, rand=rng.random) for _ in range(500)]
    assert all(base <= s < base * 1.2 for s in samples)
    assert max(samples) - min(samples) > base * 0.15  # spread out: retries of many rows do not line up


def test_retry_after_wins_when_longer_even_past_the_cap() -> None:
    assert backoff(POLICY, 1, retry_after=60.0, rand=lambda: 0.5) == 60.0
    assert backoff(POLICY, 12, retry_after=3.0, rand=lambda: 0.0) == 10.0  # shorter: the backoff stands
    assert backoff(POLICY, 2, retry_after=0.0, rand=lambda: 0.0) == 2.0
