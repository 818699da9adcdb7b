"""Reading ``GET /metrics`` in tests: the exposition parsed by prometheus-client's own parser."""

from __future__ import annotations

import time
import urllib.request
from collections.abc import Callable
from typing import Any

from prometheus_client.parser import text_string_to_metric_families

Series = dict[tuple[str, frozenset[tuple[str, str]]], float]


def scrape(url: str) -> Series:
    """{(sample name, labels): value} of every sample of one scrape."""
    with urllib.request.urlopen(url + "/metrics", timeout=10) as resp:
        assert resp.status == 200
        assert resp.headers["content-type"].startswith("text/plain")
        text = resp.read().decode()
    out: Series = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            out[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return out


def value(series: Series, name: str, **labels: Any) -> float:
    """The sum of ``name``'s samples whose labels include ``labels`` (0 when there is none)."""
    want = {(k, str(v)) for k, v in labels.items()}
    return sum(v for (n, ls), v in series.items() if n == name and want <= ls)


def label_values(series: Series) -> set[str]:
    return {v for (_, ls) in series for _, v in ls}


def scrape_when(url: str, ready: Callable[[Series], bool], timeout: float = 5.0) -> Series:
    """Scrape until ``ready(series)`` (each worker moves its counts into the shared files every
    ``opensts.metrics.FLUSH_SECONDS``): the first scrape where it holds, or the last one."""
    deadline = time.monotonic() + timeout
    while True:
        series = scrape(url)
        if ready(series) or time.monotonic() > deadline:
            return series
        time.sleep(0.05)
