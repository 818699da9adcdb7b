"""Store-size benchmark of IAM's listings (issue 19, item 1): ListRoles at 10 / 5,000 / 50,000
roles and ListPolicies at 10,000 customer managed policies, on SQLite and on PostgreSQL.

Run: ``.venv/bin/python bench/scale_lists.py [--sizes 10,5000,50000] [--policies 10000]
[--backends sqlite,postgres] [--repeat 15]``.

For each backend it starts one ``opensts serve`` (one worker, default settings) on a loopback
port — on PostgreSQL also a throwaway cluster (tools/localfleet/postgres.py) — and stops what it
started (by PID / pg_ctl) at the end, also on errors. Roles and policies are written straight
into the store in multi-row INSERTs (tests/listing_data.py: what the repository writes), growing
one account from one size to the next; on PostgreSQL each load ends with ANALYZE of the table,
as autovacuum would within a minute (without it the planner sorts the account's whole range for
the first page until autovacuum has run). Measured with raw SigV4-signed HTTP requests
(botocore's signer, one kept-alive connection), so the numbers are the server's, not boto3's XML
parsing:

- first page: ListRoles MaxItems=100, median (and max) of ``--repeat`` calls;
- full paging: every role through MaxItems=1000 pages, following the Marker (wall time);
- the same for ListPolicies (Scope=Local and Scope=All) at the policy count;
- ``--entities N``: the same for IAM's other listings that grow with the account, at N users,
  groups, instance profiles and virtual MFA devices (ListUsers, ListGroups, ListInstanceProfiles,
  ListVirtualMFADevices, GetGroup and ListEntitiesForPolicy over N members,
  ListInstanceProfilesForRole over N profiles of one role, GetAccountAuthorizationDetails).
Targets (issue 19): first page ≤ 20 ms; all 50,000 roles ≤ 3 s.
"""

from __future__ import annotations

import argparse
import http.client
import os
import platform
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from botocore.auth import SigV4Auth  # noqa: E402
from botocore.awsrequest import AWSRequest  # noqa: E402
from botocore.credentials import Credentials  # noqa: E402

from opensts.store import tables as t  # noqa: E402
from opensts.store.database import database_url, make_engine  # noqa: E402
from tests import listing_data as data  # noqa: E402
from tests.conftest import ACCOUNT_ID, ADMIN_KEY, ADMIN_SECRET, fresh_database, start_server, stop_server  # noqa: E402

_MARKER = re.compile(r"<Marker>([^<]*)</Marker>")
_TRUNCATED = re.compile(r"<IsTruncated>(true|false)</IsTruncated>")


class Iam:
    """Signed IAM query calls over one kept-alive HTTP connection."""

    def __init__(self, url: str) -> None:
        host, port = url.split("//", 1)[1].split(":")
        self.address = (host, int(port))
        self.conn = http.client.HTTPConnection(host, int(port), timeout=120)
        self.url = url
        self.signer = SigV4Auth(Credentials(ADMIN_KEY, ADMIN_SECRET), "iam", "us-east-1")

    def call(self, action: str, **params: Any) -> str:
        body = urlencode({"Action": action, "Version": "2010-05-08", **params})
        request = AWSRequest("POST", self.url + "/", data=body,
                             headers={"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"})
        self.signer.add_auth(request)
        try:
            self.conn.request("POST", "/", body=body, headers=dict(request.headers))
            response = self.conn.getresponse()
        except (BrokenPipeError, ConnectionResetError, http.client.RemoteDisconnected):
            self.conn.close()  # the server closed an idle kept-alive connection (while rows loaded)
            self.conn = http.client.HTTPConnection(*self.address, timeout=120)
            self.conn.request("POST", "/", body=body, headers=dict(request.headers))
            response = self.conn.getresponse()
        text = response.read().decode()
        if response.status != 200:
            raise RuntimeError(f"{action}: HTTP {response.status}: {text[:300]}")
        return text

    def close(self) -> None:
        self.conn.close()


def first_page(iam: Iam, action: str, repeat: int, **params: Any) -> tuple[float, float]:
    """(median, max) ms of the first page of 100."""
    iam.call(action, MaxItems=100, **params)  # warm
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        iam.call(action, MaxItems=100, **params)
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times), max(times)


#: --entities: (operation, its parameters, the element each item opens with)
ENTITY_LISTINGS: list[tuple[str, dict[str, str], str]] = [
    ("ListUsers", {}, "<UserId>"),
    ("ListGroups", {}, "<GroupId>"),
    ("ListInstanceProfiles", {}, "<InstanceProfileId>"),
    ("ListVirtualMFADevices", {}, "<SerialNumber>"),
    ("GetGroup", {"GroupName": "bench-group"}, "<UserId>"),
    ("ListEntitiesForPolicy", {"PolicyArn": "arn:aws:iam::aws:policy/ReadOnlyAccess", "EntityFilter": "User"},
     "<UserId>"),
    ("ListInstanceProfilesForRole", {"RoleName": "bench-role"}, "<InstanceProfileId>"),
    ("GetAccountAuthorizationDetails", {"Filter.member.1": "User"}, "<UserId>"),
]


def load_entities(engine: Any, count: int) -> None:
    """``count`` users (all in one group, all with one AWS managed policy attached), groups,
    instance profiles (all holding one role) and virtual MFA devices."""
    users = data.users(engine, ACCOUNT_ID, count, prefix="bench-user")
    [group] = data.groups(engine, ACCOUNT_ID, 1, prefix="bench-group")
    data.groups(engine, ACCOUNT_ID, count - 1, prefix="bench-g")
    [role] = data.roles(engine, ACCOUNT_ID, 1, prefix="bench-role")
    profiles = data.instance_profiles(engine, ACCOUNT_ID, count, prefix="bench-profile")
    data.mfa_devices(engine, ACCOUNT_ID, count, prefix="bench-mfa")
    data.members(engine, group["id"], [u["id"] for u in users])
    data.attach(engine, "user", [u["id"] for u in users], "arn:aws:iam::aws:policy/ReadOnlyAccess")
    data.profile_roles(engine, role["id"], [p["id"] for p in profiles])
    with engine.begin() as conn:  # the names the listings above address (name() appends -000000)
        conn.execute(t.iam_groups.update().where(t.iam_groups.c.id == group["id"])
                     .values(name="bench-group", name_lower="bench-group"))
        conn.execute(t.roles.update().where(t.roles.c.id == role["id"]).values(name="bench-role",
                                                                                  name_lower="bench-role"))


def full_paging(iam: Iam, action: str, tag: str, **params: Any) -> tuple[float, int, int]:
    """(seconds, items, pages) to walk the whole listing at MaxItems=1000."""
    started, items, pages, marker = time.perf_counter(), 0, 0, None
    while True:
        text = iam.call(action, MaxItems=1000, **params, **({"Marker": marker} if marker else {}))
        items += text.count(tag if tag.startswith("<") else f"<{tag}>")
        pages += 1
        if _TRUNCATED.search(text).group(1) == "false":  # type: ignore[union-attr]
            return time.perf_counter() - started, items, pages
        marker = _MARKER.search(text).group(1)  # type: ignore[union-attr]


def run_backend(backend: str, sizes: list[int], policies: int, repeat: int, entities: int = 0) -> list[str]:
    lines: list[str] = []
    cluster = server = None
    try:
        extra: dict[str, str] = {}
        if backend == "postgres":
            from tools.localfleet import postgres

            cluster = postgres.start()
            extra["OPENSTS_DATABASE_URL"] = fresh_database(cluster.url)
        folder = Path(tempfile.mkdtemp(prefix="opensts-bench-lists-")) / "data"
        server = start_server(folder, extra_env=extra)
        engine = make_engine(extra.get("OPENSTS_DATABASE_URL") or database_url(folder))
        iam = Iam(server.url)
        have = 0
        for size in sizes:
            started = time.perf_counter()
            data.roles(engine, ACCOUNT_ID, size - have, prefix=f"r{have}")
            have = size
            load = time.perf_counter() - started
            median, worst = first_page(iam, "ListRoles", repeat)
            seconds, items, pages = full_paging(iam, "ListRoles", "member")
            lines.append(f"| {backend} | ListRoles | {size:,} roles | {median:.1f} ms (max {worst:.1f}) | "
                         f"{seconds:.2f} s ({items:,} items, {pages} pages) | load {load:.1f} s |")
            print(lines[-1], flush=True)
        if policies:
            started = time.perf_counter()
            data.policies(engine, ACCOUNT_ID, policies)
            load = time.perf_counter() - started
            for scope in ("Local", "All"):
                median, worst = first_page(iam, "ListPolicies", repeat, Scope=scope)
                seconds, items, pages = full_paging(iam, "ListPolicies", "member", Scope=scope)
                lines.append(f"| {backend} | ListPolicies Scope={scope} | {policies:,} policies | {median:.1f} ms "
                             f"(max {worst:.1f}) | {seconds:.2f} s ({items:,} items, {pages} pages) | "
                             f"load {load:.1f} s |")
                print(lines[-1], flush=True)
        if entities:
            started = time.perf_counter()
            load_entities(engine, entities)
            load = time.perf_counter() - started
            time.sleep(1.5)  # the server's cache notices the new group, role and users
            for action, params, tag in ENTITY_LISTINGS:
                median, worst = first_page(iam, action, repeat, **params)
                seconds, items, pages = full_paging(iam, action, tag, **params)
                lines.append(f"| {backend} | {action} | {entities:,} entities | {median:.1f} ms (max {worst:.1f}) | "
                             f"{seconds:.2f} s ({items:,} items, {pages} pages) | load {load:.1f} s |")
                print(lines[-1], flush=True)
        iam.close()
        engine.dispose()
    finally:
        if server is not None:
            stop_server(server)
        if cluster is not None:
            cluster.stop()
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="10,5000,50000", help="role counts, ascending (comma-separated)")
    parser.add_argument("--policies", type=int, default=10_000, help="customer managed policies (0: skip)")
    parser.add_argument("--backends", default="sqlite,postgres")
    parser.add_argument("--repeat", type=int, default=15, help="first-page calls per size")
    parser.add_argument("--entities", type=int, default=0,
                        help="users, groups, instance profiles, MFA devices for the other listings (0: skip)")
    args = parser.parse_args()
    sizes = sorted(int(s) for s in args.sizes.split(","))
    print(f"# IAM listings vs store size — {platform.node()}, {platform.python_version()}, "
          f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}")
    print("| backend | operation | store | first page of 100 (median) | full paging at MaxItems 1000 | |")
    print("|---|---|---|---|---|---|")
    if hasattr(os, "getloadavg"):
        print(f"(load average at start: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs)")
    for backend in args.backends.split(","):
        run_backend(backend.strip(), sizes, args.policies, args.repeat, args.entities)


if __name__ == "__main__":
    main()
