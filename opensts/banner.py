"""The start-up banner of ``opensts serve``: where it listens, who the administrator is, and a
command that works as printed.

"As printed" is the point: on a machine with only Python and make, ``aws`` exists only in the
virtualenv beside the server's Python (``.venv/bin/aws``), so a bare ``aws`` is "command not
found" — or, worse, another AWS CLI found on PATH. Commands are therefore printed as the path of
the script installed beside ``sys.executable`` (relative to the working folder when that is
shorter), bare only when PATH resolves the bare name to that same file. A TLS server's command
names the CA file the AWS CLI must trust (``AWS_CA_BUNDLE``) when it is known, else says what to set.
"""

from __future__ import annotations

import importlib.util
import ipaddress
import os
import shlex
import shutil
import sys
from pathlib import Path

from opensts import __version__
from opensts.settings import Settings

__all__ = ["banner_lines", "command_path", "shortest_path"]


def shortest_path(path: str | Path, cwd: str | None = None) -> str:
    """``path`` relative to ``cwd`` when that is shorter (always with a ``/``, so a shell runs it
    as a path, not a PATH look-up), else absolute; shell-quoted."""
    absolute = os.path.abspath(path)
    relative = os.path.relpath(absolute, cwd or os.getcwd())
    if os.sep not in relative:
        relative = f".{os.sep}{relative}"
    return shlex.quote(relative if len(relative) < len(absolute) else absolute)


def command_path(name: str, *, bindir: str | None = None, search_path: str | None = None,
                 cwd: str | None = None) -> str | None:
    """How to run the console script ``name`` installed beside this Python (``bindir``, default
    ``sys.executable``'s folder): the bare name when PATH finds that same file, else its path;
    None when it is not installed there."""
    folder = bindir or os.path.dirname(sys.executable)
    script = os.path.join(folder, name)
    if not (os.path.isfile(script) and os.access(script, os.X_OK)):
        return None
    found = shutil.which(name, path=search_path if search_path is not None else os.environ.get("PATH"))
    if found and os.path.samefile(found, script):
        return name
    return shortest_path(script, cwd)


def _aws() -> tuple[str, list[str]]:
    """The AWS CLI command (and a hint when there is none to offer)."""
    beside = command_path("aws")
    if beside:
        return beside, []
    if importlib.util.find_spec("awscli") is not None:
        return f"{shortest_path(sys.executable)} -m awscli", []
    hint = [] if shutil.which("aws") else ["  (no AWS CLI found: install one, e.g. `pip install awscli`)"]
    return "aws", hint


def _cert_names(cert: Path) -> tuple[list[str], bool]:
    """The host names and IP addresses ``cert`` is valid for, and whether it is self-signed."""
    from cryptography import x509

    try:
        parsed = x509.load_pem_x509_certificate(cert.read_bytes())
    except (OSError, ValueError):
        return [], False
    try:
        alt = parsed.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        names = [str(n) for n in alt.get_values_for_type(x509.DNSName)]
        names += [str(ip) for ip in alt.get_values_for_type(x509.IPAddress)]
    except x509.ExtensionNotFound:
        names = []
    return names, parsed.issuer == parsed.subject


def _names_host(names: list[str], host: str) -> bool:
    for name in names:
        if name.lower() == host.lower():
            return True
        if name.startswith("*.") and "." in host and host.split(".", 1)[1].lower() == name[2:].lower():
            return True
    return False


def _tls(settings: Settings, url: str) -> tuple[list[str], str, list[str]]:
    """For a TLS server: (environment for the command, endpoint URL, hint lines)."""
    assert settings.tls_cert is not None
    names, self_signed = _cert_names(settings.tls_cert)
    ca = settings.ca_bundle or (settings.tls_cert if self_signed else None)
    env = [f"AWS_CA_BUNDLE={shortest_path(ca)}"] if ca else []
    hints = [] if ca else [
        f"  TLS: the AWS CLI must trust the CA that issued {settings.tls_cert}: set AWS_CA_BUNDLE=<that CA's "
        "PEM file> in the command below (or start with --ca-bundle FILE to have it printed here)"]
    host = url.split("://", 1)[1].rsplit(":", 1)[0].strip("[]")
    if names and not _names_host(names, host):
        loopback = ipaddress.ip_address(host).is_loopback if _is_ip(host) else False
        if loopback and "localhost" in names:
            url = url.replace(f"://{host}:", "://localhost:", 1)
        else:
            hints.append(f"  TLS: {settings.tls_cert} does not name {host}: in --endpoint-url use a name it has "
                         f"({', '.join(names[:3])}) that resolves to this server")
    return env, url, hints


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def banner_lines(settings: Settings, boot: object) -> list[str]:
    from opensts.service.bootstrap import PROFILE, BootstrapResult

    assert isinstance(boot, BootstrapResult)
    url = settings.endpoint_url()
    lines = [f"OpenSTS {__version__} serving on " + ", ".join(settings.endpoint_url(l) for l in settings.listeners)]
    lines.append(f"  data folder: {settings.data_dir}    account: {boot.account_id}    IAM user: admin")
    if boot.created is not None:
        lines.append("  administrator credentials (shown once; also saved, mode 0600, in the file below):")
        lines.append(f"    AWS_ACCESS_KEY_ID={boot.created.access_key_id}")
        lines.append(f"    AWS_SECRET_ACCESS_KEY={boot.created.secret_access_key}")
    region = settings.node.region or "us-east-1"  # a fleet node answers its own Region only
    aws, hints = _aws()
    if boot.credentials_file.exists():
        lines.append(f"  credentials file: {boot.credentials_file} (profile {PROFILE})")
        env = [f"AWS_SHARED_CREDENTIALS_FILE={shortest_path(boot.credentials_file)}", f"AWS_PROFILE={PROFILE}"]
    else:  # a fleet node on a replica: the account was bootstrapped on the primary, not here
        lines.append(f"  credentials: the administrator key {boot.access_key_id} made where the account was "
                     "bootstrapped (the first node on the primary: its DATA_DIR/credentials, or OPENSTS_ADMIN_*)")
        env = []
    if settings.tls_cert is not None:
        tls_env, url, tls_hints = _tls(settings, url)
        env, hints = env + tls_env, hints + tls_hints
    lines += hints
    lines.append("  try:")
    lines.append(f"    {' '.join([*env, aws])} sts get-caller-identity --endpoint-url {url} --region {region}")
    return lines


def start_event(settings: Settings, boot: object) -> None:
    """The banner as one ``start`` event (``--log-format json``): where the server listens and
    where the administrator's credentials are — never the secret itself (it is in the 0600
    credentials file, whose path is given)."""
    import logging

    from opensts.logs import event

    event(logging.getLogger("opensts.server"), "start", "", version=__version__,
          listen=[settings.endpoint_url(lst) for lst in settings.listeners], data_dir=str(settings.data_dir),
          account=getattr(boot, "account_id", None), admin_access_key_id=getattr(boot, "access_key_id", None),
          credentials_file=str(getattr(boot, "credentials_file", "")) or None, workers=settings.workers,
          region=settings.node.region, metrics=settings.metrics,
          metrics_url=(settings.endpoint_url(settings.metrics_listen or settings.listeners[0]).replace("https:", "http:")
                       if settings.metrics_listen else settings.endpoint_url()) + "/metrics" if settings.metrics else None,
          try_command=banner_lines(settings, boot)[-1].strip())  # the banner's last line: names no secret
