"""Check latency by check type, for metrics: a few counters per type that a scrape reads.

Probe events are emitted on state changes only, so they cannot feed a latency histogram: a healthy target
would never add a sample. Every attempt is counted here instead, at the cost of one bisect and three
additions (no event, no lock, no object per check: 10,000 targets a second stay cheap). A metrics exporter
reads :meth:`ProbeDetector.latency_histograms <faultmgr_probes.detector.ProbeDetector.latency_histograms>`
at scrape time; the counts only grow, as Prometheus histograms expect.
"""

from __future__ import annotations

from bisect import bisect_left
from dataclasses import dataclass

#: Upper bounds of the buckets in seconds (Prometheus ``le``), from a LAN connect (1 ms) to a slow HTTP
#: check (10 s); a last bucket (+Inf) holds the rest.
LATENCY_BOUNDS_S = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


@dataclass(frozen=True, slots=True)
class LatencySnapshot:
    """A histogram as Prometheus wants it.

    :param buckets: ``(upper bound in seconds, cumulative count)`` pairs, the last bound ``inf``.
    :param sum_s: sum of every latency counted, in seconds.
    :param count: attempts counted (equal to the last bucket's count).
    """

    buckets: tuple[tuple[float, int], ...]
    sum_s: float
    count: int


class LatencyHistogram:
    """Attempts of one check type, counted in the buckets of :data:`LATENCY_BOUNDS_S`."""

    __slots__ = ("_bounds_ms", "counts", "sum_ms", "count")

    def __init__(self) -> None:
        self._bounds_ms = [bound * 1000.0 for bound in LATENCY_BOUNDS_S]
        self.counts = [0] * (len(LATENCY_BOUNDS_S) + 1)
        self.sum_ms = 0.0
        self.count = 0

    def add(self, latency_ms: float) -> None:
        """Count one attempt that took ``latency_ms`` (``le`` semantics: a value on a bound is in it)."""
        self.counts[bisect_left(self._bounds_ms, latency_ms)] += 1
        self.sum_ms += latency_ms
        self.count += 1

    def snapshot(self) -> LatencySnapshot:
        """The cumulative view a scrape exports."""
        total, buckets = 0, []
        for bound, n in zip((*LATENCY_BOUNDS_S, float("inf")), self.counts, strict=True):
            total += n
            buckets.append((bound, total))
        return LatencySnapshot(tuple(buckets), self.sum_ms / 1000.0, self.count)
