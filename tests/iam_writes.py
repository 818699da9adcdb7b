"""IAM write operations, one case per kind, driven through the real ASGI app in this process.

Shared by tests/unit/test_iam_write_cost.py (the SQL statements each write runs are bounded and
the answers unchanged) and bench/iam_write_cost.py (the CPU each write costs, and where it goes).

A case is an IAM action with the calls that prepare it (``setup``, not measured: the role to
delete must exist first) and the measured call (``write``). Both take ``n``, a suffix unique to
one repetition, and the write gets what the setup calls answered (an access key id). Entities
every case may use: role ``base-r``, user ``base-u``, group ``base-g``, customer managed policy
``base-p`` (made once by ``InProcessIam.provision``).

``InProcessIam`` builds the app as a server worker does (``build_state``; quotas off; the cache
polls the store once a minute so only the write's own statements are counted), signs each call
with botocore's SigV4 and counts the SQL statements run on the thread that served the call.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

KEY, SECRET, ACCOUNT = "AKIAIOSFODNN7EXAMPLE", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", "111122223333"
HOST = "127.0.0.1:8600"
IAM_VERSION = "2010-05-08"
POLICY_ARN = f"arn:aws:iam::{ACCOUNT}:policy/base-p"
TRUST = json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {
    "AWS": f"arn:aws:iam::{ACCOUNT}:root"}, "Action": "sts:AssumeRole"}]})

Params = dict[str, str]


def doc(n: str | int) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "s3:GetObject", "Resource": f"arn:aws:s3:::bucket-{n}/*"}]})


def _key_id(answers: list[str]) -> str:
    found = re.search(r"<AccessKeyId>([A-Z0-9]+)</AccessKeyId>", answers[-1])
    assert found, answers[-1]
    return found.group(1)


@dataclass(frozen=True)
class WriteCase:
    action: str
    write: Callable[[str, list[str]], Params]
    setup: Callable[[str], list[Params]] = field(default=lambda n: [])


def _case(action: str, write: Callable[[str], Params], setup: Callable[[str], list[Params]] | None = None) -> WriteCase:
    return WriteCase(action, lambda n, _answers: {"Action": action, **write(n)}, setup or (lambda n: []))


def _new_policy(n: str) -> Params:
    return {"Action": "CreatePolicy", "PolicyName": f"p-{n}", "PolicyDocument": doc(n)}


def _arn(n: str) -> str:
    return f"arn:aws:iam::{ACCOUNT}:policy/p-{n}"


CASES: list[WriteCase] = [
    # roles
    _case("CreateRole", lambda n: {"RoleName": f"r-{n}", "AssumeRolePolicyDocument": TRUST,
                                   "Tags.member.1.Key": "team", "Tags.member.1.Value": "red"}),
    _case("DeleteRole", lambda n: {"RoleName": f"r-{n}"},
          lambda n: [{"Action": "CreateRole", "RoleName": f"r-{n}", "AssumeRolePolicyDocument": TRUST}]),
    _case("UpdateRole", lambda n: {"RoleName": "base-r", "Description": f"d {n}", "MaxSessionDuration": "7200"}),
    _case("UpdateAssumeRolePolicy", lambda n: {"RoleName": "base-r", "PolicyDocument": TRUST}),
    _case("TagRole", lambda n: {"RoleName": "base-r", "Tags.member.1.Key": "n", "Tags.member.1.Value": n}),
    _case("UntagRole", lambda n: {"RoleName": "base-r", "TagKeys.member.1": "n"}),
    _case("PutRolePolicy", lambda n: {"RoleName": "base-r", "PolicyName": "p", "PolicyDocument": doc(n)}),
    _case("DeleteRolePolicy", lambda n: {"RoleName": "base-r", "PolicyName": f"p-{n}"},
          lambda n: [{"Action": "PutRolePolicy", "RoleName": "base-r", "PolicyName": f"p-{n}", "PolicyDocument": doc(n)}]),
    _case("AttachRolePolicy", lambda n: {"RoleName": "base-r", "PolicyArn": POLICY_ARN}),
    _case("DetachRolePolicy", lambda n: {"RoleName": "base-r", "PolicyArn": POLICY_ARN},
          lambda n: [{"Action": "AttachRolePolicy", "RoleName": "base-r", "PolicyArn": POLICY_ARN}]),
    _case("PutRolePermissionsBoundary", lambda n: {"RoleName": "base-r", "PermissionsBoundary": POLICY_ARN}),
    # users
    _case("CreateUser", lambda n: {"UserName": f"u-{n}"}),
    _case("DeleteUser", lambda n: {"UserName": f"u-{n}"}, lambda n: [{"Action": "CreateUser", "UserName": f"u-{n}"}]),
    _case("UpdateUser", lambda n: {"UserName": f"u-{n}", "NewPath": "/moved/"},
          lambda n: [{"Action": "CreateUser", "UserName": f"u-{n}"}]),
    _case("TagUser", lambda n: {"UserName": "base-u", "Tags.member.1.Key": "n", "Tags.member.1.Value": n}),
    _case("PutUserPolicy", lambda n: {"UserName": "base-u", "PolicyName": "p", "PolicyDocument": doc(n)}),
    _case("AttachUserPolicy", lambda n: {"UserName": "base-u", "PolicyArn": POLICY_ARN}),
    _case("DetachUserPolicy", lambda n: {"UserName": "base-u", "PolicyArn": POLICY_ARN},
          lambda n: [{"Action": "AttachUserPolicy", "UserName": "base-u", "PolicyArn": POLICY_ARN}]),
    # groups
    _case("CreateGroup", lambda n: {"GroupName": f"g-{n}"}),
    _case("DeleteGroup", lambda n: {"GroupName": f"g-{n}"}, lambda n: [{"Action": "CreateGroup", "GroupName": f"g-{n}"}]),
    _case("PutGroupPolicy", lambda n: {"GroupName": "base-g", "PolicyName": "p", "PolicyDocument": doc(n)}),
    _case("AttachGroupPolicy", lambda n: {"GroupName": "base-g", "PolicyArn": POLICY_ARN}),
    _case("AddUserToGroup", lambda n: {"GroupName": "base-g", "UserName": f"u-{n}"},
          lambda n: [{"Action": "CreateUser", "UserName": f"u-{n}"}]),
    _case("RemoveUserFromGroup", lambda n: {"GroupName": "base-g", "UserName": f"u-{n}"},
          lambda n: [{"Action": "CreateUser", "UserName": f"u-{n}"},
                     {"Action": "AddUserToGroup", "GroupName": "base-g", "UserName": f"u-{n}"}]),
    # managed policies
    _case("CreatePolicy", lambda n: {"PolicyName": f"p-{n}", "PolicyDocument": doc(n)}),
    _case("CreatePolicyVersion", lambda n: {"PolicyArn": _arn(n), "PolicyDocument": doc(n + "v2")},
          lambda n: [_new_policy(n)]),
    _case("SetDefaultPolicyVersion", lambda n: {"PolicyArn": _arn(n), "VersionId": "v2"},
          lambda n: [_new_policy(n), {"Action": "CreatePolicyVersion", "PolicyArn": _arn(n), "PolicyDocument": doc(n + "v2")}]),
    _case("DeletePolicyVersion", lambda n: {"PolicyArn": _arn(n), "VersionId": "v2"},
          lambda n: [_new_policy(n), {"Action": "CreatePolicyVersion", "PolicyArn": _arn(n), "PolicyDocument": doc(n + "v2")}]),
    _case("DeletePolicy", lambda n: {"PolicyArn": _arn(n)}, lambda n: [_new_policy(n)]),
    _case("TagPolicy", lambda n: {"PolicyArn": POLICY_ARN, "Tags.member.1.Key": "n", "Tags.member.1.Value": n}),
    # access keys
    _case("CreateAccessKey", lambda n: {"UserName": f"u-{n}"}, lambda n: [{"Action": "CreateUser", "UserName": f"u-{n}"}]),
    WriteCase("UpdateAccessKey", lambda n, a: {"Action": "UpdateAccessKey", "UserName": f"u-{n}",
                                               "AccessKeyId": _key_id(a), "Status": "Inactive"},
              lambda n: [{"Action": "CreateUser", "UserName": f"u-{n}"}, {"Action": "CreateAccessKey", "UserName": f"u-{n}"}]),
    WriteCase("DeleteAccessKey", lambda n, a: {"Action": "DeleteAccessKey", "UserName": f"u-{n}",
                                               "AccessKeyId": _key_id(a)},
              lambda n: [{"Action": "CreateUser", "UserName": f"u-{n}"}, {"Action": "CreateAccessKey", "UserName": f"u-{n}"}]),
]


def signed(params: Params, service: str = "iam",
           version: str = IAM_VERSION) -> tuple[list[tuple[bytes, bytes]], bytes]:
    body = urlencode({**params, "Version": version})
    req = AWSRequest(method="POST", url=f"http://{HOST}/", data=body,
                     headers={"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"})
    SigV4Auth(Credentials(KEY, SECRET), service, "us-east-1").add_auth(req)
    headers = [(k.lower().encode(), v.encode()) for k, v in req.headers.items()] + [(b"host", HOST.encode())]
    return headers, body.encode()


SERVING_THREADS = "opensts-control-plane"  # edge/control_plane.py's pools: where IAM calls run


class StatementCounter:
    """Counts the SQL statements the engine runs, per thread (``before_cursor_execute``)."""

    def __init__(self, engine: Any) -> None:
        from sqlalchemy import event

        self.engine = engine
        self.counts: dict[int, int] = {}
        self.statements: dict[int, list[str]] = {}
        self.keep = False
        event.listen(engine, "before_cursor_execute", self._seen)

    def _seen(self, conn: Any, cursor: Any, statement: str, *rest: Any) -> None:
        if not threading.current_thread().name.startswith(SERVING_THREADS):
            return  # the key-use flusher, the test's own thread: not the call's statements
        ident = threading.get_ident()
        self.counts[ident] = self.counts.get(ident, 0) + 1
        if self.keep:
            self.statements.setdefault(ident, []).append(statement)

    def reset(self) -> None:
        self.counts.clear()
        self.statements.clear()


class InProcessIam:
    """The app of one server worker in this process, and a way to call it."""

    def __init__(self, folder: Path, *, check_interval: float = 60.0) -> None:
        from opensts.app_state import build_state
        from opensts.cli import _open_and_bootstrap
        from opensts.config import parse_config
        from opensts.edge.asgi import StsAsgiApp
        from opensts.settings import Settings

        bootstrap = {"OPENSTS_ACCOUNT_ID": ACCOUNT, "OPENSTS_ADMIN_ACCESS_KEY_ID": KEY,
                     "OPENSTS_ADMIN_SECRET_ACCESS_KEY": SECRET}
        before = {name: os.environ.get(name) for name in bootstrap}
        os.environ.update(bootstrap)  # read by the bootstrap only: restored below (other tests share the process)
        try:
            _open_and_bootstrap(folder)
            settings = Settings(folder, config=parse_config({"quotas": {"rps": 0}}), cache_check_interval=check_interval)
            self.state = build_state(settings)
            self.app = StsAsgiApp(self.state)
        finally:
            for name, value in before.items():
                if value is None:
                    os.environ.pop(name, None)
                else:
                    os.environ[name] = value
        self.counter = StatementCounter(self.state.control_repo.engine)
        self.loop = asyncio.new_event_loop()

    def close(self) -> None:
        if self.state.key_use is not None:  # now, while the database is still there
            self.state.key_use.flush_now()
        self.loop.close()
        self.state.repo.engine.dispose()

    def call(self, params: Params, service: str = "iam", version: str = IAM_VERSION) -> tuple[int, str]:
        return self.send(*signed(params, service, version))

    def send(self, headers: list[tuple[bytes, bytes]], body: bytes) -> tuple[int, str]:
        """One signed request (``signed``) through the app."""
        return self.loop.run_until_complete(self._call(headers, body))

    def must(self, params: Params) -> str:
        status, text = self.call(params)
        assert status == 200, (params, status, text)
        return text

    async def _call(self, headers: list[tuple[bytes, bytes]], body: bytes) -> tuple[int, str]:
        scope = {"type": "http", "method": "POST", "path": "/", "raw_path": b"/", "query_string": b"",
                 "headers": headers, "client": ("127.0.0.1", 50000), "server": ("127.0.0.1", 8600), "scheme": "http"}
        out: dict[str, Any] = {"body": b""}

        async def receive() -> dict[str, object]:
            return {"type": "http.request", "body": body, "more_body": False}

        async def send(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                out["status"] = message["status"]
            else:
                out["body"] += message.get("body", b"")

        await self.app(scope, receive, send)
        return int(out["status"]), out["body"].decode()

    def provision(self) -> None:
        """The entities every case may write to."""
        self.must({"Action": "CreateRole", "RoleName": "base-r", "AssumeRolePolicyDocument": TRUST})
        self.must({"Action": "CreateUser", "UserName": "base-u"})
        self.must({"Action": "CreateGroup", "GroupName": "base-g"})
        self.must({"Action": "CreatePolicy", "PolicyName": "base-p", "PolicyDocument": doc("base")})

    def prepare(self, case: WriteCase, n: str) -> Params:
        """Run ``case``'s setup calls; the measured call's parameters."""
        answers = [self.must(p) for p in case.setup(n)]
        return case.write(n, answers)

    def counted(self, params: Params) -> tuple[int, str, int, list[str]]:
        """Call once; (status, body, SQL statements run by the serving thread, their text)."""
        self.counter.reset()
        self.counter.keep = True
        status, text = self.call(params)
        self.counter.keep = False
        counts = self.counter.counts
        busiest = max(counts, key=counts.__getitem__) if counts else None
        return status, text, sum(counts.values()), self.counter.statements.get(busiest, []) if busiest else []
