"""What this server is in a deployment: its role, as data.

A single server (no ``--region``) serves every Region in one process on one database — today's
behaviour, ``make serve``. A *fleet node* (``opensts serve --region REGION`` or
``OPENSTS_REGION``) is one of the interchangeable nodes of REGION's data plane: it serves only
what REGION's DNS sends it, authenticates, authorizes and runs STS from REGION's own database
(a hot-standby replica of the control plane's PostgreSQL primary, except in the control-plane
Region) and REGION's own Redis, and sends IAM, Organizations and Account calls to the control
plane's primary.

Everything that differs between the two is decided here, once, from these fields; the services
below never ask "am I in a fleet?".
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from opensts.frozen import frozen

__all__ = ["NodeRole", "REGION_ENV", "CONTROL_PLANE_DATABASE_URL_ENV", "QUOTA_STORE_ENV", "REGION_STORE_ENV"]

REGION_ENV = "OPENSTS_REGION"
CONTROL_PLANE_DATABASE_URL_ENV = "OPENSTS_CONTROL_PLANE_DATABASE_URL"
QUOTA_STORE_ENV = "OPENSTS_QUOTA_STORE"
REGION_STORE_ENV = "OPENSTS_REGION_STORE"


@frozen
class NodeRole:
    """This server's place in the fleet.

    ``region``: the Region whose data plane this node is (None: a single server serving every
    Region). ``control_plane_url``: the SQLAlchemy URL of the control plane's primary when this
    node's own database (``OPENSTS_DATABASE_URL``) is a replica (None: the node's own database
    is the primary). ``quota_store``: ``redis://…`` holding the Region's quota buckets, shared
    by its nodes (None: this server's own memory). ``region_store``: ``redis://…`` holding what
    STS writes in the Region (TOTP steps used, SAML assertion ids, delegation tokens traded in);
    defaults to ``quota_store``,
    and is required where the node's database is a read-only replica.
    """

    region: str | None = None
    control_plane_url: str | None = None
    quota_store: str | None = None
    region_store: str | None = None

    @classmethod
    def from_environment(cls, region: str | None = None, environ: Mapping[str, str] | None = None) -> NodeRole:
        """The role from ``--region`` (else ``OPENSTS_REGION``) and the ``OPENSTS_*`` variables."""
        env = os.environ if environ is None else environ
        quota_store = env.get(QUOTA_STORE_ENV) or None
        return cls(
            region=region or env.get(REGION_ENV) or None,
            control_plane_url=env.get(CONTROL_PLANE_DATABASE_URL_ENV) or None,
            quota_store=quota_store,
            region_store=env.get(REGION_STORE_ENV) or quota_store,
        )
