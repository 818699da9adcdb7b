"""Matchers: wildcard globs, actions, ARNs (segment-wise), and principals.

Everything here compiles once (at policy compile time, or once per distinct resolved text for
patterns with variables) and is then called per request.  Semantics (``policy.md`` §2):

* Glob: ``*`` any run (incl. empty), ``?`` exactly one character; every other character is
  literal — peers that build regexes and only escape ``.`` mis-handle ``+ ( ) [ ] |``.
* Action: whole ``vendor:name`` string, case-insensitive, never trimmed.
* ARN: five ``:``-separated head segments and the resource part, each globbed separately and
  case-sensitively; ``*`` in a head segment cannot cross a ``:``; a short policy ARN is padded with
  ``*`` segments; a request ARN with fewer than six parts never matches.
* Principal: the *kind* of match decides the same-account trust rule (§4.4), so the principal
  matcher returns a rank: wildcard > direct > role/user-of-session > account > none.

Why no regex: patterns come from callers (a session policy is enough), and a glob turned into a
backtracking regex (``.*a.*a.*a…b``) costs O(nᵏ) for k stars — seconds for 8 stars against a
60-character name.  A :class:`Glob` instead splits the pattern at runs of ``*`` into fixed-length
*pieces* (literal characters and ``?``): the first must match at the start, the last at the end,
and each middle piece is taken at its leftmost occurrence after the previous one.  Leftmost is
always safe — any match that places a piece further right can be moved left, since the ``*`` that
follows absorbs the difference — so nothing is ever retried, and a match costs at most
O(len(value) × len(pattern)): each piece's search scans the value once, trying each start in
O(len(piece)).  Pieces with ``?`` or case folding are searched with a regex without quantifiers
(fixed length, hence the same bound); plain literal pieces with ``str.find``/``startswith``.
"""

from __future__ import annotations

import functools
import operator
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from re import Pattern

from opensts.policy.context import Principal, PrincipalType
from opensts.policy.variables import Lit, Part, Var, resolve_var

__all__ = [
    "Glob",
    "Token",
    "compile_glob",
    "compile_tokens",
    "resolve_tokens",
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

#: ``(text, wild)``: policy text in which ``*``/``?`` are wildcards when ``wild``, else literal
#: text (a ``${*}`` escape, a substituted variable value, a variable kept literal).
Token = tuple[str, bool]

_WILD_SPLIT = re.compile(r"(\*+|\?)")  # one alternative per first character: no backtracking
_ONE = None  # marks a '?' among a piece's items


class _Piece:
    """A star-free run of a glob: literal text and ``?``, so a fixed number of characters."""

    __slots__ = ("size", "text", "rx")

    def __init__(self, items: Sequence[str | None]) -> None:
        self.size = sum(1 if i is _ONE else len(i) for i in items)
        self.text: str | None = None
        self.rx: Pattern[str] | None = None
        if _ONE in items:
            # No quantifier: a match attempt is at most `size` steps, a search at most n of them.
            self.rx = re.compile("".join("." if i is _ONE else re.escape(i) for i in items), re.DOTALL)
        else:
            self.text = "".join(items)  # type: ignore[arg-type]

    def at(self, s: str, i: int) -> bool:
        """Does the piece match ``s`` at position ``i``?"""
        if self.text is not None:
            return s.startswith(self.text, i)
        return self.rx.match(s, i) is not None  # type: ignore[union-attr]

    def find(self, s: str, start: int, end: int) -> int:
        """Leftmost position ``p >= start`` where the piece matches inside ``s[:end]``, or -1."""
        if self.text is not None:
            return s.find(self.text, start, end)
        m = self.rx.search(s, start, end)  # type: ignore[union-attr]
        return -1 if m is None else m.start()


def _pieces(tokens: Iterable[Token]) -> tuple[_Piece, ...]:
    """Split tokens at runs of ``*`` (collapsed: ``**`` is ``*``) into compiled pieces."""
    runs: list[list[str | None]] = [[]]
    for text, wild in tokens:
        if not wild:
            if text:
                runs[-1].append(text)
            continue
        for chunk in _WILD_SPLIT.split(text):
            if chunk == "?":
                runs[-1].append(_ONE)
            elif chunk.startswith("*"):
                if runs[-1] or len(runs) == 1:
                    runs.append([])
            elif chunk:
                runs[-1].append(chunk)
    return tuple(_Piece(_merge(run)) for run in runs)


def _merge(items: list[str | None]) -> list[str | None]:
    """Join adjacent literal chunks (fewer, longer pieces to search)."""
    out: list[str | None] = []
    for item in items:
        if item is not _ONE and out and out[-1] is not _ONE:
            out[-1] = out[-1] + item  # type: ignore[operator]
        else:
            out.append(item)
    return out


def _match_pieces(pieces: tuple[_Piece, ...], s: str) -> bool:
    """Greedy-leftmost match of star-separated pieces against the whole of ``s`` (see module doc)."""
    first = pieces[0]
    if len(pieces) == 1:
        return len(s) == first.size and first.at(s, 0)
    last = pieces[-1]
    end = len(s) - last.size
    if end < first.size or not first.at(s, 0) or not last.at(s, end):
        return False
    pos = first.size
    for piece in pieces[1:-1]:
        i = piece.find(s, pos, end)
        if i < 0:
            return False
        pos = i + piece.size
    return True


def _match_texts(first: str, middle: tuple[str, ...], last: str, s: str) -> bool:
    """:func:`_match_pieces` for pieces without ``?`` (the usual case): only ``str`` methods."""
    end = len(s) - len(last)
    if end < len(first) or not s.startswith(first) or not s.endswith(last):
        return False
    pos = len(first)
    for text in middle:
        i = s.find(text, pos, end)
        if i < 0:
            return False
        pos = i + len(text)
    return True


def _specialise(pieces: tuple[_Piece, ...]) -> Callable[[str], bool]:
    """The cheapest whole-string test for these pieces: ``==``, ``startswith``, str methods, or the
    general loop (pieces with ``?``)."""
    texts = [p.text for p in pieces]
    if any(t is None for t in texts):
        return functools.partial(_match_pieces, pieces)
    if len(texts) == 1:
        return functools.partial(operator.eq, texts[0])
    if len(texts) == 2 and texts[1] == "":
        return operator.methodcaller("startswith", texts[0])  # C all the way: s.startswith(P)
    return functools.partial(_match_texts, texts[0], tuple(texts[1:-1]), texts[-1])


class Glob:
    """A compiled glob; :attr:`match` is a whole-string match in O(len(value) × len(pattern)).

    Case-insensitive means both sides lower-cased (``str.lower``), the rule the exact-name
    frozensets use too, so an action matches the same way with or without a wildcard; a caller
    that already holds the lower-cased value calls :attr:`match_lower` with it.
    """

    __slots__ = ("source", "ignore_case", "pieces", "literal", "prefix", "anything", "match", "match_lower")

    def __init__(self, tokens: tuple[Token, ...], ignore_case: bool = False) -> None:
        self.source = "".join(t for t, _ in tokens)
        self.ignore_case = ignore_case
        self.pieces = _pieces(((t.lower(), w) for t, w in tokens) if ignore_case else tokens)
        first = self.pieces[0]
        #: the exact text when there is no wildcard
        self.literal = first.text if len(self.pieces) == 1 else None
        #: ``P`` when the glob is ``P*`` with P literal
        self.prefix = first.text if len(self.pieces) == 2 and self.pieces[1].size == 0 else None
        #: ``*`` alone: matches every string
        self.anything = self.prefix == ""
        #: match_lower(s.lower()) for case-insensitive globs; the same as match otherwise
        self.match_lower: Callable[[str], bool] = _specialise(self.pieces)
        #: match(s) -> bool: does the glob match the whole of s?
        self.match: Callable[[str], bool] = self.match_lower
        if ignore_case:
            lowered = self.match_lower
            self.match = lambda s: lowered(s.lower())


@functools.lru_cache(maxsize=8192)
def compile_tokens(tokens: tuple[Token, ...], ignore_case: bool = False) -> Glob:
    """The (cached) :class:`Glob` for resolved tokens."""
    return Glob(tokens, ignore_case)


def compile_glob(text: str, *, ignore_case: bool = False) -> Glob:
    """The :class:`Glob` for plain policy text (every ``*``/``?`` a wildcard)."""
    return compile_tokens(((text, True),), ignore_case)


def resolve_tokens(parts: Iterable[Part], keys: Mapping[str, object]) -> tuple[Token, ...] | None:
    """Tokens for tokenised policy text: variables substituted (as literal text), None if one has no value."""
    out: list[Token] = []
    for p in parts:
        if isinstance(p, str):
            out.append((p, True))
        elif isinstance(p, Lit):
            out.append((p.text, False))
        else:
            v = resolve_var(p, keys)
            if v is None:
                return None
            out.append((v, False))
    return tuple(out)


class ActionMatcher:
    """Case-insensitive match of the request action against a statement's Action list.

    Exact names are a frozenset lookup and ``vendor:Prefix*`` patterns one ``str.startswith`` over
    a tuple (the common cases); any other wildcard pattern is a :class:`Glob`.
    """

    __slots__ = ("patterns", "any", "exact", "wild")

    def __init__(self, patterns: Iterable[str]) -> None:
        self.patterns = tuple(patterns)
        self.any = "*" in self.patterns
        self.exact = frozenset(p.lower() for p in self.patterns if "*" not in p and "?" not in p)
        wild = [compile_glob(p, ignore_case=True) for p in self.patterns if "*" in p or "?" in p]
        prefixes = tuple(g.prefix for g in wild if g.prefix is not None)
        globs = tuple(g.match_lower for g in wild if g.prefix is None)
        #: wild(action_l) -> bool over the wildcard patterns only (exact names and ``*`` are the
        #: caller's fast path); None when there are none
        self.wild: Callable[[str], bool] | None = None
        if prefixes and not globs:
            self.wild = operator.methodcaller("startswith", prefixes)
        elif len(globs) == 1 and not prefixes:
            self.wild = globs[0]
        elif wild:
            def match_any(action_l: str) -> bool:
                if prefixes and action_l.startswith(prefixes):
                    return True
                for g in globs:
                    if g(action_l):
                        return True
                return False
            self.wild = match_any

    def __call__(self, action: str, action_l: str) -> bool:
        if self.any or action_l in self.exact:
            return True
        return self.wild is not None and self.wild(action_l)

    def which(self, action: str) -> str | None:
        """The first pattern that matches (for traces)."""
        for p in self.patterns:
            if p == "*" or compile_glob(p, ignore_case=True).match(action):
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


class _ArnMatcher:
    """Segment-wise ARN match for resolved segments (five head segments and the resource part).

    A head wildcard cannot match ``:``, so every ``:`` of the head — the five separators and any
    inside literal text, e.g. a substituted value — must meet the value's colons in order: the
    value is split on its first k colons and each colon-free part is globbed on its own, then the
    rest against the resource part.  A head without wildcards is one literal prefix of a single
    :class:`Glob` over the whole ARN (the common case, e.g. ``arn:aws:iam::123456789012:role/*``).
    """

    __slots__ = ("colons", "pick", "want", "globs", "resource", "match")

    def __init__(self, segments: tuple[tuple[Token, ...], ...]) -> None:
        subs: list[list[Token]] = [[]]
        for seg in segments[:5]:
            for text, wild in (*seg, (":", False)):
                chunks = text.split(":")
                subs[-1].append((chunks[0], wild))
                subs.extend([(c, wild)] for c in chunks[1:])
        subs.pop()  # what follows the fifth separator: the resource part
        heads = [compile_tokens(tuple(sub)) for sub in subs]
        self.colons = len(heads)
        self.resource = compile_tokens(segments[5]).match
        #: match(value) -> bool
        self.match: Callable[[str], bool] = self._split_match
        if all(h.literal is not None for h in heads):
            prefix = "".join(f"{h.literal}:" for h in heads)
            self.match = compile_tokens(((prefix, False), *segments[5])).match
        # Literal head parts are compared in one go (itemgetter → tuple); the rest globbed.
        index = tuple(i for i, h in enumerate(heads) if h.literal is not None)
        texts = tuple(heads[i].literal for i in index)
        self.pick = operator.itemgetter(*index) if index else None
        self.want = texts[0] if len(texts) == 1 else texts  # itemgetter of one index: no tuple
        self.globs = tuple((i, h.match) for i, h in enumerate(heads) if h.literal is None and not h.anything)

    def _split_match(self, value: str) -> bool:
        parts = value.split(":", self.colons)
        if len(parts) <= self.colons or (self.pick is not None and self.pick(parts) != self.want):
            return False
        for i, glob in self.globs:
            if not glob(parts[i]):
                return False
        return self.resource(parts[-1])


@functools.lru_cache(maxsize=8192)
def _compile_arn(segments: tuple[tuple[Token, ...], ...]) -> Callable[[str], bool]:
    return _ArnMatcher(segments).match


class ArnPattern:
    """One ARN pattern, matched segment-wise.

    ``resource_mode`` applies the Resource-element rules: variables substitute only in the resource
    part (a ``${…}`` in a head segment stays literal) and the first segment is always ``arn``
    (IAM normalises ``a:b:c`` to ``arn:b:c:*:*:*``).  ArnLike/ArnEquals conditions substitute in
    every segment and use the pattern as written.
    """

    __slots__ = ("text", "star", "segments", "static", "fixed", "varying")

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
        self.segments = tuple(tuple(seg) for seg in segments)
        #: indices of the segments with variables; the others resolved once, here
        self.varying = tuple(i for i, seg in enumerate(segments) if any(isinstance(p, Var) for p in seg))
        self.fixed = tuple(() if i in self.varying else resolve_tokens(seg, {}) or ()
                           for i, seg in enumerate(self.segments))
        #: the compiled test when there are no variables
        self.static: Callable[[str], bool] | None = None
        if not self.varying:
            self.static = self.matcher({})

    def matcher(self, keys: Mapping[str, object]) -> Callable[[str], bool] | None:
        """The compiled matcher for this request, or None if a variable has no value."""
        if self.static is not None:
            return self.static
        resolved = list(self.fixed)
        for i in self.varying:
            tokens = resolve_tokens(self.segments[i], keys)
            if tokens is None:
                return None
            resolved[i] = tokens
        return _compile_arn(tuple(resolved))

    def matches(self, value: str, keys: Mapping[str, object]) -> bool:
        if self.star:
            return True
        test = self.static
        if test is None:
            test = self.matcher(keys)
            if test is None:
                return False
        return test(value)


# ------------------------------------------------------------------------------------------------
# Principals
# ------------------------------------------------------------------------------------------------

KIND_NONE, KIND_ACCOUNT, KIND_ROLE, KIND_DIRECT, KIND_WILDCARD = 0, 1, 2, 3, 4
KIND_NAMES = {KIND_NONE: "none", KIND_ACCOUNT: "account", KIND_ROLE: "role",
              KIND_DIRECT: "direct", KIND_WILDCARD: "wildcard"}

_ACCOUNT_ID = re.compile(r"^\d{12}\Z", re.ASCII)
_IAM_ARN = re.compile(r"^arn:[a-z-]+:iam::(\d{12}):(root|user/.+|role/.+)\Z", re.ASCII)
_STS_ARN = re.compile(r"^arn:[a-z-]+:sts::(\d{12}):(assumed-role/[^/]+/.+|federated-user/.+)\Z", re.ASCII)


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
