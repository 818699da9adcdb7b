"""Audit: CloudTrail-format records of every call, their durable journal and delivery to the
trails (``events.py``, ``journal.py``, ``delivery.py``, ``stores.py``, ``trail.py``), LookupEvents
(``lookup.py``; on a fleet node from its Region's trail, ``trail_reader.py``), and the
global-endpoint usage report (``report/``)."""
