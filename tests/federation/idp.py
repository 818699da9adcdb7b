"""A real OIDC issuer for tests: an HTTPS server on loopback (certificate from a trustme CA)
serving discovery and JWKS, keys from ``cryptography`` via joserfc, tokens from joserfc."""

from __future__ import annotations

import json
import ssl
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import trustme
from joserfc import jwt
from joserfc.jwk import ECKey, RSAKey


class OidcIssuer:
    def __init__(self, folder: Path) -> None:
        self.ca = trustme.CA()
        self.ca_path = folder / "idp-ca.pem"
        self.ca.cert_pem.write_to_path(str(self.ca_path))
        cert = self.ca.issue_cert("127.0.0.1", "localhost")
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        cert.configure_cert(ctx)
        self.rsa = RSAKey.generate_key(2048, parameters={"kid": "rsa-1", "use": "sig", "alg": "RS256"}, private=True)
        self.ec = ECKey.generate_key("P-256", parameters={"kid": "ec-1", "use": "sig", "alg": "ES256"}, private=True)
        self.published = [self.rsa, self.ec]
        self.hits = {"discovery": 0, "jwks": 0}
        self.delay = 0.0  # seconds each answer waits: a slow IdP
        issuer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802
                time.sleep(issuer.delay)
                if self.path.endswith("/.well-known/openid-configuration"):
                    issuer.hits["discovery"] += 1
                    body: Any = {"issuer": issuer.url, "jwks_uri": issuer.url + "/keys"}
                elif self.path.endswith("/keys"):
                    issuer.hits["jwks"] += 1
                    body = {"keys": [k.as_dict(private=False) for k in issuer.published]}
                else:
                    self.send_response(404)
                    self.end_headers()
                    return
                data = json.dumps(body).encode()
                self.send_response(200)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.socket = ctx.wrap_socket(self.httpd.socket, server_side=True)
        self.port = self.httpd.server_address[1]
        self.host_path = f"127.0.0.1:{self.port}/issuer"
        self.url = "https://" + self.host_path
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def token(self, key: Any = None, alg: str = "RS256", **claims: Any) -> str:
        key = key or self.rsa
        now = int(time.time())
        body = {"iss": self.url, "sub": "system:serviceaccount:default:app", "aud": "sts.amazonaws.com",
                "iat": now, "exp": now + 3600, "jti": str(uuid.uuid4())}
        body.update(claims)
        body = {k: v for k, v in body.items() if v is not None}
        return jwt.encode({"alg": alg, "kid": key.kid, "typ": "JWT"}, body, key, algorithms=[alg])

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def trusting_role(iam: Any, issuer: OidcIssuer, name: str) -> str:
    """Register ``issuer`` as an OIDC provider and create a role trusting its tokens for audience
    ``sts.amazonaws.com``; the role's ARN."""
    provider = iam.create_open_id_connect_provider(Url=issuer.url, ClientIDList=["sts.amazonaws.com"],
                                                   ThumbprintList=["a" * 40])["OpenIDConnectProviderArn"]
    trust = {"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": {"Federated": provider}, "Action": "sts:AssumeRoleWithWebIdentity",
        "Condition": {"StringEquals": {f"{issuer.host_path}:aud": "sts.amazonaws.com"}}}]}
    return str(iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(trust))["Role"]["Arn"])
