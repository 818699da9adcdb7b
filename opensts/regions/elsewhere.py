"""A request this fleet node would have to serve in another Region: refused, never served.

A node of Region R holds R's sealing key, R's quota buckets and delivers to R's trail. A request
whose placement (``regions/resolve.py``) is served in another Region — a regional endpoint of
another Region, the global endpoint on a node of an opt-in Region (AWS serves it in us-east-1),
a custom host signed for another Region, LookupEvents signed for another Region — reached this
node because DNS or a client points at the wrong place. Serving it here would mint with the wrong
Region's key and record it in the wrong trail; forwarding it would make R depend on another
Region. So it is refused before any key, quota or trail of R is used.

Why ``MisdirectedRequest`` with HTTP 421: RFC 9110 §15.5.20 defines 421 exactly as "the request
was directed at a server that is unable or unwilling to produce an authoritative response for
the target URI". It is a 4xx, so no SDK retries it (botocore's standard and legacy modes retry
500/502/503/504 and throttling codes only): retrying the same node can never succeed. The body
is the API's usual error envelope (awsQuery XML, or JSON for JSON APIs) and names the Region
that serves the request and where DNS is explained.
"""

from __future__ import annotations

from opensts.protocol.errors import ServiceError

__all__ = ["MisdirectedRequest", "refuse_unless_served"]

DEPLOYMENT_DOC = "docs/DEPLOYMENT.md"


class MisdirectedRequest(ServiceError):
    code = "MisdirectedRequest"
    status = 421
    sender_fault = True


def refuse_unless_served(served: frozenset[str] | None, region: str, what: str = "This request") -> None:
    """MisdirectedRequest unless ``region`` is one of ``served`` (None: every Region)."""
    if served is None or region in served:
        return
    here = ", ".join(sorted(served))
    raise MisdirectedRequest(
        f"{what} is served in {region}, and this server is a node of {here}: send it to an endpoint of "
        f"{region} (each Region's DNS must resolve that Region's endpoints to its own nodes; see {DEPLOYMENT_DOC})."
    )
