"""The global-endpoint usage report (``opensts audit endpoints``).

Reads CloudTrail logs — our own trail or real ones exported from AWS — and tells which principals,
roles, user agents, source IPs and SDKs still call the STS global endpoint (``sts.amazonaws.com``),
how often, from which Regions, and what to change.  Modules:

* ``readers``   — file discovery, gzip, input-shape detection and streaming record extraction;
* ``classify``  — global / regional / unknown for one STS event;
* ``sdk``       — user agent → SDK and the setting to change;
* ``aggregate`` — counters bounded by the number of distinct callers, mergeable across processes;
* ``scan``      — runs the readers over many files (in parallel) with a progress callback;
* ``render``    — text table, JSON and CSV;
* ``chart``     — a self-contained HTML page with an SVG chart of calls over time.
"""

from opensts.audit.report.aggregate import Aggregate
from opensts.audit.report.classify import GLOBAL, REGIONAL, UNKNOWN, classify_event, classify_host

__all__ = ["Aggregate", "GLOBAL", "REGIONAL", "UNKNOWN", "classify_event", "classify_host"]
