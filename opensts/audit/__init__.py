"""Audit: CloudTrail-format records of every call, their durable journal and delivery to the
trails (``events.py``, ``journal.py``, ``delivery.py``, ``trail.py``), LookupEvents
(``lookup.py``), and the global-endpoint usage report (``report/``)."""
