"""The client's address behind trusted front proxies (uvicorn's ProxyHeadersMiddleware rule).

``X-Forwarded-For`` is believed only when the peer is a trusted proxy; the client is then the
right-most address in the header that is not itself a trusted proxy. The result feeds
``aws:SourceIp`` and the client-network → Region map.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence

__all__ = ["TrustedProxies"]


class TrustedProxies:
    def __init__(self, cidrs: Sequence[str]) -> None:
        self._nets = [ipaddress.ip_network(c, strict=False) for c in cidrs]

    def _trusted(self, address: str) -> bool:
        try:
            ip = ipaddress.ip_address(address.strip())
        except ValueError:
            return False
        return any(ip in net for net in self._nets)

    def client_ip(self, peer: str, forwarded_for: str) -> str:
        if not self._nets or not forwarded_for or not self._trusted(peer):
            return peer
        for hop in reversed([h.strip() for h in forwarded_for.split(",") if h.strip()]):
            if not self._trusted(hop):
                try:
                    return str(ipaddress.ip_address(hop))
                except ValueError:
                    return peer
        return peer
