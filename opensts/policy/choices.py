"""Every **CHOICE** the spec (``shared/spec/policy.md``) makes where AWS is silent, behind one constant.

Flip a constant here to switch behaviour; tests refer to these names so a flip shows up as
expected-failing tests rather than silent drift.

Where this implementation departs from the letter of the spec (recorded for the lead):

* Validation order: "must contain resources" is checked right after "must contain actions" and
  before the resource/action format messages (moto's IAM test table, which mirrors IAM's answers);
  the spec's §1.7 table lists it at step 8.
* ``Sid`` characters: IAM policies (identity, managed, boundary) reject a Sid outside
  ``[A-Za-z0-9]*`` with IAM's "Statement IDs (SID) must be alpha-numeric…" message (not in the spec).
* Trust policy ``NotPrincipal``: rejected with ``Has prohibited field NotPrincipal`` (spec: message
  unverified).
* Root callers of non-AssumeRole actions: treated as "identity allows" rather than an unconditional
  Allow (spec §4.2 step 4), so a *cross-account* resource policy must still grant the root caller.
* Evaluation of stored/case documents uses ``strict=False`` (structure only): the shared cases
  act-011/act-012 contain actions IAM would refuse to save (``"sts:A,sts:B"``, ``" sts:…"``).
"""

from __future__ import annotations

#: §4.4: a same-account trust policy that names an IAM *user* ARN still needs the user's permissions
#: boundary (if any) to allow the action.  [UG id_roles_update-role-trust-policy] says so; the general
#: evaluation-logic page and iam-simulate say a grant to a user ARN is not limited by the boundary.
TRUST_USER_GRANT_NEEDS_BOUNDARY: bool = True

#: §1.2: only managed policies (CreatePolicy/CreatePolicyVersion) require Version 2012-10-17.
#: Inline, trust, session and boundary documents may be 2008-10-17 or versionless (2008 semantics).
VERSION_2012_ONLY_FOR_MANAGED: bool = True

#: §3.6: a policy variable naming a *multivalued* key falls back to its default (like a missing key).
VARIABLE_DEFAULT_ON_MULTIVALUED: bool = True

#: §1.6: ``NullIfExists`` is accepted and evaluates exactly as ``Null``.
NULL_IF_EXISTS_IS_NULL: bool = True

#: §1.8: default quota for a role trust policy (``ACLSizePerRole``); AWS lets accounts raise it.
TRUST_POLICY_QUOTA: int = 2048

#: §1.8: managed-policy size quota (non-whitespace characters).
MANAGED_POLICY_QUOTA: int = 6144

#: §1.8: aggregate inline-policy quota per entity type (non-whitespace characters).
INLINE_POLICY_QUOTAS: dict[str, int] = {"user": 2048, "group": 5120, "role": 10240}

#: §1.8: the 2,048-character cap on the session ``Policy`` parameter (raw characters).
SESSION_POLICY_MAX_CHARS: int = 2048

#: §2.4: ``Allow`` + ``NotPrincipal`` grants "everyone except"; for the same/cross-account rule we
#: rank such a grant like ``*`` (AWS documents no rule; the combination is discouraged).
NOTPRINCIPAL_ALLOW_IS_WILDCARD: bool = True

#: §3.2: an empty list is "no value" everywhere (absent), not only for Null and set operators.  AWS
#: never puts an empty multivalued key into a request context, so this only matters for hand-built
#: contexts; treating it as absent keeps negated operators and ``…IfExists`` consistent.
EMPTY_LIST_IS_ABSENT: bool = True
