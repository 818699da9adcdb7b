"""Operations whose work may hold a worker for long: the edge runs them off the event loop.

A worker serves every connection from one event loop, so a call that computes for seconds or waits
on the network stalls every other caller of that worker. Two kinds do:

* the policy simulations (``iam/simulate.py``): bounded, but up to seconds of CPU at their limits;
* AssumeRoleWithWebIdentity: it may fetch an IdP's discovery document and JWKS (``federation/
  oidc_fetch.py``, blocking HTTP with a 5-second timeout). On the loop, a slow IdP stalled the
  whole worker, and a server could not verify a token of its own issuer: the fetch of its own
  discovery document waited for the loop it was blocking.

``edge/asgi.py`` runs these in one thread per worker; everything else stays on the loop.
"""

from __future__ import annotations

__all__ = ["OFF_LOOP"]

OFF_LOOP = frozenset({"SimulatePrincipalPolicy", "SimulateCustomPolicy", "AssumeRoleWithWebIdentity",
                      # a password's scrypt hash costs tens of milliseconds of CPU (service/iam/passwords.py)
                      "CreateLoginProfile", "UpdateLoginProfile", "ChangePassword",
                      "CreateServiceSpecificCredential", "ResetServiceSpecificCredential",
                      # access advisor and the credential report read the whole account (or audit trail)
                      "GenerateServiceLastAccessedDetails", "GenerateOrganizationsAccessReport",
                      "GenerateCredentialReport"})
