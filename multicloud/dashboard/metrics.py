"""Per-function numbers from recent invocations (calls, errors, latency percentiles) and a sparkline.

The sparkline is inline SVG built here, on the server: the window is cut into equal buckets, the median
latency of each bucket is a line, and each bucket with failed calls gets a red bar under it. A picture of
a few hundred bytes needs no charting library in the browser (and nothing to vendor).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from markupsafe import Markup

from multicloud.provider import Invocation


@dataclass(frozen=True)
class Bucket:
    start: datetime
    calls: int
    errors: int
    p50_ms: float | None


@dataclass(frozen=True)
class FunctionMetrics:
    function: str
    calls: int
    errors: int
    p50_ms: float | None
    p95_ms: float | None
    last: Invocation | None
    buckets: tuple[Bucket, ...]

    @property
    def error_rate(self) -> float:
        return self.errors / self.calls if self.calls else 0.0


def percentile(values: list[float], q: float) -> float | None:
    """Nearest-rank percentile (q in 0..100) of unsorted values; None for none."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, min(len(ordered), -(-len(ordered) * q // 100)))
    return ordered[int(rank) - 1]


def summarize(function: str, calls: list[Invocation], since: datetime, until: datetime,
              buckets: int = 30) -> FunctionMetrics:
    span = max((until - since).total_seconds(), 1.0) / buckets
    groups: list[list[Invocation]] = [[] for _ in range(buckets)]
    for call in calls:
        index = int((call.time - since).total_seconds() // span)
        if 0 <= index < buckets:
            groups[index].append(call)
    latencies = [c.duration_ms for c in calls if c.duration_ms is not None]
    return FunctionMetrics(
        function, len(calls), sum(1 for c in calls if not c.ok), percentile(latencies, 50),
        percentile(latencies, 95), calls[-1] if calls else None,
        tuple(Bucket(since + timedelta(seconds=i * span), len(g), sum(1 for c in g if not c.ok),
                     percentile([c.duration_ms for c in g if c.duration_ms is not None], 50))
              for i, g in enumerate(groups)))


def sparkline(metrics: FunctionMetrics, width: int = 150, height: int = 30) -> Markup:
    """Median latency per bucket as a line; red bars where calls failed; grey ticks where calls had no
    latency recorded. Only numbers go into the markup."""
    buckets = metrics.buckets
    n = max(len(buckets), 1)
    step = width / n
    top = max((b.p50_ms for b in buckets if b.p50_ms is not None), default=0.0) or 1.0
    chart = height - 4  # room for the error bars
    points = []
    parts = []
    for i, b in enumerate(buckets):
        x = i * step + step / 2
        if b.p50_ms is not None:
            points.append(f"{x:.1f},{chart - (b.p50_ms / top) * (chart - 2) + 1:.1f}")
        elif b.calls:
            parts.append(f'<rect x="{x - 0.5:.1f}" y="{chart - 2}" width="1" height="2" class="tick"/>')
        if b.errors:
            parts.append(f'<rect x="{i * step:.1f}" y="{height - 3}" width="{max(step - 1, 1):.1f}" height="3" '
                         f'class="err"/>')
    if len(points) == 1:  # one bucket with calls: a dot, a line needs two
        cx, cy = points[0].split(",")
        parts.append(f'<circle cx="{cx}" cy="{cy}" r="2" class="dot"/>')
    line = f'<polyline points="{" ".join(points)}" class="lat"/>' if len(points) > 1 else ""
    label = (f"{metrics.calls} calls, {metrics.errors} failed"
             + (f", median {metrics.p50_ms:.0f} ms" if metrics.p50_ms is not None else ""))
    return Markup(f'<svg class="spark" width="{width}" height="{height}" viewBox="0 0 {width} {height}" '
                  f'role="img" aria-label="{Markup.escape(label)}">{line}{"".join(parts)}</svg>')
