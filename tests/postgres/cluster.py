"""A throwaway PostgreSQL server for the tests: ``tools/localfleet/postgres.py`` (shared with the
local fleet launcher, which also starts hot-standby replicas)."""

from tools.localfleet.postgres import USER, Cluster, binaries, start, start_standby

__all__ = ["USER", "Cluster", "binaries", "start", "start_standby"]
