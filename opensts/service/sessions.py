"""Session rules shared by the AssumeRole family and GetFederationToken.

Durations, session tags (with transitive tags carried through role chaining), source identity
(set once, then inherited), session policies (inline + managed ARNs) and the packed size, each as
a small pure function so every limit can be tested at its boundary. Messages are AWS's.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import field
from typing import Any

from opensts.auth.principals import Caller
from opensts.frozen import frozen
from opensts.protocol.errors import AccessDenied, InvalidParameterValue, ValidationError
from opensts.protocol.model import modelled_error
from opensts.service.identifiers import parse_arn

__all__ = [
    "RoleRef",
    "parse_role_arn",
    "role_duration",
    "SessionTags",
    "session_tags",
    "source_identity",
    "SessionPolicies",
    "session_policies",
    "minify",
    "check_provided_contexts",
]

ROLE_CHAIN_MAX = 3600
PLAINTEXT_SESSION_POLICY_MAX = 2048
MAX_POLICY_ARNS = 10


@frozen
class RoleRef:
    partition: str
    account_id: str
    path: str
    name: str


def parse_role_arn(arn: str) -> RoleRef:
    """``arn:PARTITION:iam::ACCOUNT:role/PATH/NAME``; AWS answers ``<arn> is invalid`` otherwise."""
    parts = parse_arn(arn)
    invalid = ValidationError(f"{arn} is invalid")
    if parts is None:
        raise invalid
    partition, service, region, account, resource = parts
    if not partition or not service or not resource or not account:
        raise invalid
    if service != "iam" or region or not resource.startswith("role/"):
        raise invalid
    path, _, name = resource[len("role") :].rpartition("/")
    if not name:
        raise invalid
    return RoleRef(partition, account, path + "/", name)


def role_duration(requested: int | None, max_session: int, *, chained: bool) -> int:
    """AssumeRole's DurationSeconds against the role's maximum and the 1-hour chaining cap."""
    duration = requested if requested is not None else 3600
    if chained and duration > ROLE_CHAIN_MAX:
        raise ValidationError(
            "The requested DurationSeconds exceeds the 1 hour session limit for roles assumed by role chaining."
        )
    if duration > max_session:
        raise ValidationError("The requested DurationSeconds exceeds the MaxSessionDuration set for this role.")
    return duration


@frozen
class SessionTags:
    """Tags passed in this request, inherited transitive ones, and the resulting session's view."""

    requested: dict[str, str] = field(default_factory=dict)
    transitive: tuple[str, ...] = ()  # keys transitive in the new session (inherited + new)
    inherited: dict[str, str] = field(default_factory=dict)

    @property
    def passed(self) -> bool:
        return bool(self.requested)

    def principal_tags(self, entity_tags: Mapping[str, str]) -> dict[str, str]:
        """Session tags ∪ inherited transitive tags ∪ the role's/user's tags; session tags win."""
        out = {k: v for k, v in entity_tags.items()}
        lower = {k.lower(): k for k in out}
        for key, value in {**self.inherited, **self.requested}.items():
            old = lower.get(key.lower())
            if old is not None:
                del out[old]
            out[key] = value
            lower[key.lower()] = key
        return out


def session_tags(
    tags: Sequence[Mapping[str, str]] | None, transitive_keys: Sequence[str] | None, caller: Caller | None
) -> SessionTags:
    """Validate Tags/TransitiveTagKeys as STS does; carry the caller's transitive tags."""
    requested: dict[str, str] = {}
    seen: set[str] = set()
    for tag in tags or ():
        key, value = tag["Key"], tag["Value"]
        if key.lower() in seen:
            raise InvalidParameterValue("Duplicate tag keys found. Please note that Tag keys are case insensitive.")
        if key.lower().startswith("aws:") or value.lower().startswith("aws:"):
            raise InvalidParameterValue("Tag keys and values cannot start with 'aws:'.")
        seen.add(key.lower())
        requested[key] = value
    new_transitive = tuple(transitive_keys or ())
    for key in new_transitive:
        if key.lower() not in seen:
            raise InvalidParameterValue("The specified transitive tag key must be included in the requested tags.")
    inherited: dict[str, str] = {}
    session = caller.session if caller else None
    if session is not None and session.transitive_tag_keys:
        keys = {k.lower() for k in session.transitive_tag_keys}
        inherited = {k: v for k, v in session.tags.items() if k.lower() in keys}
        if any(k.lower() in keys for k in requested):
            raise InvalidParameterValue(
                "One of the specified transitive tag keys can't be set because it conflicts with a transitive tag "
                "key from the calling session."
            )
    carried = tuple(dict.fromkeys([*inherited, *new_transitive]))
    return SessionTags(requested, carried, inherited)


def source_identity(requested: str | None, caller: Caller | None) -> str | None:
    """Set once, then inherited; a different value in a chained call is refused."""
    inherited = caller.session.source_identity if caller and caller.session else None
    if requested is not None and requested.lower().startswith("aws:"):
        raise ValidationError("SourceIdentity cannot start with 'aws:'.")
    if inherited is not None and requested is not None and requested != inherited:
        raise AccessDenied("Source identity cannot be changed once set: it is inherited from the calling session.")
    return inherited if inherited is not None else requested


@frozen
class SessionPolicies:
    inline: str | None = None  # minified
    managed: tuple[tuple[str, str], ...] = ()  # (arn, minified default document)

    @property
    def present(self) -> bool:
        return self.inline is not None or bool(self.managed)

    @property
    def documents(self) -> tuple[str, ...]:
        return ((self.inline,) if self.inline else ()) + tuple(doc for _, doc in self.managed)


@functools.lru_cache(maxsize=4096)
def minify(document: str) -> str:
    """Policies are sealed into tokens minified (whitespace is not significant in JSON).
    Memoised: a role's documents are sealed into every one of its sessions."""
    try:
        return json.dumps(json.loads(document), separators=(",", ":"), ensure_ascii=False)
    except ValueError:
        return document


def session_policies(
    inline: str | None,
    arns: Sequence[Mapping[str, str]] | None,
    account_id: str,
    *,
    validate: Callable[[str], object],
    load_managed: Callable[[str], str | None],
) -> SessionPolicies:
    """Validate the inline policy and resolve managed ARNs (in ``account_id`` or AWS managed)."""
    arn_list = [a["arn"] for a in (arns or ())]
    if len(arn_list) > MAX_POLICY_ARNS:
        raise ValidationError(
            f"1 validation error detected: Value '{arn_list}' at 'policyArns' failed to satisfy constraint: "
            f"Member must have length less than or equal to {MAX_POLICY_ARNS}"
        )
    plaintext = len(inline or "") + sum(len(a) for a in arn_list)
    if plaintext > PLAINTEXT_SESSION_POLICY_MAX:
        from opensts.policy import MalformedPolicyDocument

        raise MalformedPolicyDocument(
            f"The combined size of the session policy and managed policy ARNs exceeds "
            f"{PLAINTEXT_SESSION_POLICY_MAX} characters."
        )
    if inline is not None:
        validate(inline)
    managed = []
    for arn in arn_list:
        parts = parse_arn(arn)
        doc = load_managed(arn) if parts and parts[3] in (account_id, "aws") else None
        if doc is None:
            from opensts.policy import MalformedPolicyDocument

            raise MalformedPolicyDocument(f"Policy {arn} does not exist or is not attachable.")
        managed.append((arn, minify(doc)))
    return SessionPolicies(minify(inline) if inline is not None else None, tuple(managed))


def context_keys_for_tags(tags: SessionTags) -> dict[str, Any]:
    """``aws:RequestTag/*``, ``aws:TagKeys`` and ``sts:TransitiveTagKeys`` of a tagging request."""
    if not tags.requested and not tags.transitive:
        return {}
    keys: dict[str, Any] = {f"aws:RequestTag/{k}": v for k, v in tags.requested.items()}
    keys["aws:TagKeys"] = list(tags.requested)
    new_transitive = [k for k in tags.transitive if k not in tags.inherited]
    if new_transitive:
        keys["sts:TransitiveTagKeys"] = new_transitive
    return keys


#: The trusted context providers AWS documents for ProvidedContexts (IAM Identity Center).
CONTEXT_PROVIDERS = ("IdentityCenter",)


def check_provided_contexts(contexts: Sequence[Mapping[str, str]] | None, partition: str) -> None:
    """AssumeRole's ProvidedContexts, beyond the model (1–5 entries, lengths: checked at parse).

    Each entry must name a trusted context provider of the role's partition
    (``arn:PARTITION:iam::aws:contextProvider/IdentityCenter``), at most once, and carry an
    assertion that provider issued, which STS decrypts and verifies. OpenSTS runs no context
    provider and holds none's keys, so it can verify no assertion: every entry is refused with
    AWS's ``InvalidContextAssertion`` (400: "malformed, has expired, or does not match a trusted
    context provider") — never accepted unchecked, which would let a caller claim any identity."""
    seen: set[str] = set()
    trusted = {f"arn:{partition}:iam::aws:contextProvider/{name}" for name in CONTEXT_PROVIDERS}
    for entry in contexts or ():
        provider, assertion = entry.get("ProviderArn"), entry.get("ContextAssertion")
        if provider is None or assertion is None:
            raise _invalid_context("Each provided context must include a ProviderArn and a ContextAssertion.")
        if provider not in trusted:
            raise _invalid_context(f"The context provider {provider} is not a trusted context provider.")
        if provider in seen:
            raise _invalid_context(f"Only one context assertion can be provided for the context provider {provider}.")
        seen.add(provider)
    if seen:
        raise _invalid_context("The context assertion that was provided is invalid: it is malformed, has expired, "
                               "or was not issued by a trusted context provider.")


def _invalid_context(message: str) -> Exception:
    return modelled_error("sts", "InvalidContextAssertion", message)
