"""A local multi-Region fleet on loopback, from the machine's own PostgreSQL and Redis (``make fleet``).

Also the harness of tests/fleet: the tests start the same pieces the way a user would.
"""
