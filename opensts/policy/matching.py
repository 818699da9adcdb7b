"""Matchers: wildcard globs, actions, ARNs (segment-wise), and principals.

Everything here compiles once (at policy compile time) into regexes or frozensets and is then
called per request.  Semantics (``policy.md`` §2):

* Glob: ``*`` any run (incl. empty), ``?`` exactly one character; every other character is
  escaped — peers that only escape ``.`` mis-handle ``+ ( ) [ ] |``.
* Action: whole ``vendor:name`` string, case-insensitive, never trimmed.
* ARN: five ``:``-separated head segments and the resource part, each globbed separately and
  case-sensitively; ``*`` in a head segment cannot cross a ``:``; a short policy ARN is padded with
  ``*`` segments; a request ARN with fewer than six parts never matches.
* Principal: the *kind* of match decides the same-account trust rule (§4.4), so the principal
  matcher returns a rank: wildcard > direct > role/user-of-session > account > none.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Mapping
from re import Pattern

from opensts.policy.context import Principal, PrincipalType
from opensts.policy.variables import Lit, Part, Var, resolve_var

__all__ = [
    "glob_to_regex",
    "compile_glob",
    "ActionMatcher",
    "ArnPattern",
    "PrincipalSpec",
    "KIND_NONE",
    "KIND_ACCOUNT",
    "KIND_ROLE",
    "KIND_DIRECT",
    "KIND_WILDCARD",
    "KIND_NAMES",
]

_ANY = "(?s:.*)"


def glob_to_regex(text: str, *, segment: bool = False) -> str:
    """Regex source for a glob; ``segment=True`` keeps ``*``/``?`` inside one ARN segment."""
    star, one = ("[^:]*", "[^:]") if segment else (".*", ".")
    out: list[str] = []
    for ch in text:
        if ch == "*":
            if not out or out[-1] != star:  # collapse runs of '*' (avoids regex blow-up)
                out.append(star)
        elif ch == "?":
            out.append(one)
        else:
            out.append(re.escape(ch))
    return "".join(out)


@functools.lru_cache(maxsize=8192)
def _compile(source: str, flags: int = 0) -> Pattern[str]:
    return re.compile(source, flags | re.DOTALL)


def compile_glob(text: str, *, ignore_case: bool = False) -> Pattern[str]:
    """Anchored (use ``fullmatch``) compiled glob."""
    return _compile(glob_to_regex(text), re.IGNORECASE if ignore_case else 0)


class ActionMatcher:
    """Case-insensitive match of the request action against a statement's Action list."""

    __slots__ = ("patterns", "any", "exact", "regex")

    def __init__(self, patterns: Iterable[str]) -> None:
        self.patterns = tuple(patterns)
        self.any = "*" in self.patterns
        self.exact = frozenset(p.lower() for p in self.patterns if "*" not in p and "?" not in p)
        wild = [glob_to_regex(p) for p in self.patterns if "*" in p or "?" in p]
        self.regex = _compile("|".join(f"(?:{w})" for w in wild), re.IGNORECASE) if wild else None

    def __call__(self, action: str, action_l: str) -> bool:
        if self.any or action_l in self.exact:
            return True
        return self.regex is not None and self.regex.fullmatch(action) is not None

    def which(self, action: str) -> str | None:
        """The first pattern that matches (for traces)."""
        for p in self.patterns:
            if p == "*" or compile_glob(p, ignore_case=True).fullmatch(action):
                return p
        return None


def _split_segments(parts: tuple[Part, ...]) -> list[list[Part]]:
    """Split parts on the first five ``:`` found in literal policy text."""
    segments: list[list[Part]] = [[]]
    for p in parts:
        if isinstance(p, str):
            pieces = p.split(":")
            segments[-1].append(pieces[0])
            for piece in pieces[1:]:
                if len(segments) < 6:
                    segments.append([piece])
                else:
                    segments[-1].append(":" + piece)
        else:
            segments[-1].append(p)
    return segments


class ArnPattern:
    """One ARN pattern, matched segment-wise.

    ``resource_mode`` applies the Resource-element rules: variables substitute only in the resource
    part (a ``${…}`` in a head segment stays literal) and the first segment is always ``arn``
    (IAM normalises ``a:b:c`` to ``arn:b:c:*:*:*``).  ArnLike/ArnEquals conditions substitute in
    every segment and use the pattern as written.
    """

    __slots__ = ("text", "star", "segments", "pieces", "static")

    def __init__(self, text: str, parts: tuple[Part, ...], *, resource_mode: bool) -> None:
        self.text = text
        self.star = resource_mode and text == "*"
        segments = _split_segments(parts)
        while len(segments) < 6:
            segments.append(["*"])
        if resource_mode:
            segments[0] = [Lit("arn", "arn")]
            for seg in segments[:5]:
                for i, p in enumerate(seg):
                    if isinstance(p, Var):
                        seg[i] = Lit(p.text, p.text)
        self.segments = segments
        # Regex source for every literal piece, computed once; Vars are escaped per request.
        pieces: list[str | Var] = []
        for i, seg in enumerate(segments):
            head = i < 5
            for p in seg:
                if isinstance(p, str):
                    pieces.append(glob_to_regex(p, segment=head))
                elif isinstance(p, Lit):
                    pieces.append(re.escape(p.text))
                else:
                    pieces.append(p)
            if head:
                pieces.append(":")
        self.pieces = pieces
        has_var = any(isinstance(p, Var) for p in pieces)
        self.static: Pattern[str] | None = None if has_var else _compile("".join(pieces))  # type: ignore[arg-type]

    def regex(self, keys: Mapping[str, object]) -> Pattern[str] | None:
        """The compiled matcher for this request, or None if a variable has no value."""
        if self.static is not None:
            return self.static
        out: list[str] = []
        for p in self.pieces:
            if isinstance(p, str):
                out.append(p)
            else:
                v = resolve_var(p, keys)
                if v is None:
                    return None
                out.append(re.escape(v))
        return _compile("".join(out))

    def matches(self, value: str, keys: Mapping[str, object]) -> bool:
        if self.star:
            return True
        rx = self.regex(keys)
        return rx is not None and rx.fullmatch(value) is not None


# ------------------------------------------------------------------------------------------------
# Principals
# ------------------------------------------------------------------------------------------------

KIND_NONE, KIND_ACCOUNT, KIND_ROLE, KIND_DIRECT, KIND_WILDCARD = 0, 1, 2, 3, 4
KIND_NAMES = {KIND_NONE: "none", KIND_ACCOUNT: "account", KIND_ROLE: "role",
              KIND_DIRECT: "direct", KIND_WILDCARD: "wildcard"}

_ACCOUNT_ID = re.compile(r"^\d{12}$")
_IAM_ARN = re.compile(r"^arn:[a-z-]+:iam::(\d{12}):(root|user/.+|role/.+)$")
_STS_ARN = re.compile(r"^arn:[a-z-]+:sts::(\d{12}):(assumed-role/[^/]+/.+|federated-user/.+)$")


class PrincipalSpec:
    """A compiled ``Principal`` / ``NotPrincipal`` element."""

    __slots__ = ("wildcard", "accounts", "users", "roles", "sessions", "ids", "federated",
                 "services", "element")

    def __init__(self, element: object) -> None:
        self.element = element
        self.wildcard = False
        accounts: set[str] = set()
        users: set[str] = set()
        roles: set[str] = set()
        sessions: set[str] = set()
        ids: set[str] = set()
        federated: set[str] = set()
        services: set[str] = set()
        if element == "*":
            self.wildcard = True
        elif isinstance(element, Mapping):
            for ptype, values in element.items():
                vals = [values] if isinstance(values, str) else list(values)
                for v in vals:
                    if ptype == "AWS":
                        if v == "*":
                            self.wildcard = True
                        elif _ACCOUNT_ID.match(v):
                            accounts.add(v)
                        elif (m := _IAM_ARN.match(v)) is not None:
                            what = m.group(2)
                            if what == "root":
                                accounts.add(m.group(1))
                            elif what.startswith("user/"):
                                users.add(v)
                            else:
                                roles.add(v)
                        elif _STS_ARN.match(v):
                            sessions.add(v)
                        else:
                            ids.add(v)  # stored unique id (AIDA…/AROA…), §2.5
                    elif ptype == "Federated":
                        federated.add(v)
                    elif ptype == "Service":
                        services.add(v)
                    # CanonicalUser: S3 only, never an STS caller.
        self.accounts = frozenset(accounts)
        self.users = frozenset(users)
        self.roles = frozenset(roles)
        self.sessions = frozenset(sessions)
        self.ids = frozenset(ids)
        self.federated = frozenset(federated)
        self.services = frozenset(services)

    def _entity(self, arns: frozenset[str], arn: str | None, uid: str | None,
                id_map: Mapping[str, str]) -> bool:
        """User/role match: via the unique id stored at save time when known (§2.5), else ARN."""
        if arns:
            if not id_map:
                if arn in arns:
                    return True
            else:
                for a in arns:
                    stored = id_map.get(a)
                    if stored is None:
                        if a == arn:
                            return True
                    elif uid is not None and stored == uid:
                        return True
        return uid is not None and uid in self.ids

    def kind(self, p: Principal, id_map: Mapping[str, str]) -> int:
        """Best match kind of request principal ``p`` against this element."""
        if self.wildcard:
            return KIND_WILDCARD
        t = p.type
        best = KIND_NONE
        if t == PrincipalType.USER:
            if self._entity(self.users, p.arn, p.id, id_map):
                return KIND_DIRECT
        elif t == PrincipalType.ASSUMED_ROLE:
            if p.arn in self.sessions:
                return KIND_DIRECT
            if self._entity(self.roles, p.role_arn, p.role_id, id_map):
                best = KIND_ROLE
        elif t == PrincipalType.FEDERATED_USER:
            if p.arn in self.sessions:
                return KIND_DIRECT
            if self._entity(self.users, p.user_arn, p.user_id, id_map):
                best = KIND_ROLE
        elif t in (PrincipalType.WEB_IDENTITY, PrincipalType.SAML):
            return KIND_DIRECT if p.provider in self.federated else KIND_NONE
        elif t == PrincipalType.SERVICE:
            return KIND_DIRECT if p.service in self.services else KIND_NONE
        elif t != PrincipalType.ROOT:
            return KIND_NONE
        if best == KIND_NONE and p.account is not None and p.account in self.accounts:
            best = KIND_ACCOUNT
        return best

    def all_listed(self, p: Principal, id_map: Mapping[str, str]) -> bool:
        """NotPrincipal: True when *every* member of the caller's chain is listed (§2.4)."""
        if self.wildcard:
            return True
        t = p.type
        acct = p.account is not None and p.account in self.accounts
        if t == PrincipalType.USER:
            return acct and self._entity(self.users, p.arn, p.id, id_map)
        if t == PrincipalType.ASSUMED_ROLE:
            return (acct and p.arn in self.sessions
                    and self._entity(self.roles, p.role_arn, p.role_id, id_map))
        if t == PrincipalType.FEDERATED_USER:
            return acct and p.arn in self.sessions
        if t == PrincipalType.ROOT:
            return acct
        if t in (PrincipalType.WEB_IDENTITY, PrincipalType.SAML):
            return p.provider in self.federated
        if t == PrincipalType.SERVICE:
            return p.service in self.services
        return False
