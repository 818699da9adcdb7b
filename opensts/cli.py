"""The ``opensts`` command (also ``python -m opensts``).

Every command takes ``--data-dir`` (default ``$OPENSTS_DATA_DIR``, else ``./.opensts``).
Commands that write (``account create``) work while the server runs: the server's caches
notice the store's generation change and the new account is usable at once.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

from opensts import __version__
from opensts.node import NodeRole
from opensts.settings import (
    DEFAULT_PORT,
    Settings,
    StartupError,
    check_environment,
    check_master_key_file,
    check_tls_files,
    clock_offset_from_env,
    default_data_dir,
    parse_listen,
)

if TYPE_CHECKING:
    from opensts.config import FileConfig
    from opensts.settings import Listener
    from opensts.store.repository import SqlRepository

__all__ = ["main"]

_data_dir_option = click.option(
    "--data-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Data folder (default: $OPENSTS_DATA_DIR, else ./.opensts).",
)


def _data_dir(value: Path | None) -> Path:
    return value if value is not None else default_data_dir()


class _LazyGroup(click.Group):
    """A group whose subcommand groups that live with their package (``opensts policy``,
    ``opensts audit``) are imported only when used: importing the policy engine for
    ``opensts audit endpoints`` cost a tenth of a second of every run."""

    lazy = {"policy": "opensts.policy.cli", "audit": "opensts.audit.cli", "keys": "opensts.store.keys_cli",
            "master-key": "opensts.store.keys_cli:master_key", "backup": "opensts.store.backup",
            "restore": "opensts.store.backup"}

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(set(super().list_commands(ctx)) | set(self.lazy))

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in self.lazy and cmd_name not in self.commands:
            import importlib

            module, _, attr = self.lazy[cmd_name].partition(":")
            self.add_command(getattr(importlib.import_module(module), attr or cmd_name), cmd_name)
        return super().get_command(ctx, cmd_name)


@click.group(cls=_LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="opensts")
def main() -> None:
    """OpenSTS: a self-hosted, AWS-compatible Security Token Service."""
    from opensts.private_files import restrict_umask

    restrict_umask()  # every file and folder any command creates is private (0600/0700)


class _OneLineError(click.ClickException):
    """Printed as one line, ``opensts: MESSAGE``, on stderr (exit status 1)."""

    def show(self, file: object = None) -> None:
        from opensts.logs import json_mode

        if json_mode():  # --log-format json: the problem as one JSON event too
            import logging

            from opensts.logs import event

            event(logging.getLogger("opensts.server"), "startup_failed", "", logging.ERROR,
                  problem=self.format_message())
            return
        click.echo(f"opensts: {self.format_message()}", err=True)


class _StartupCommand(click.Command):
    """``opensts serve``: every start-up failure a user can cause — a bad option (click's usage
    errors included), config file, environment variable, TLS file, data folder, database or
    address — is one line on stderr and a non-zero exit status, never a usage block or a traceback."""

    def make_context(self, info_name: str | None, args: list[str], parent: click.Context | None = None,
                     **extra: object) -> click.Context:
        try:
            return super().make_context(info_name, args, parent=parent, **extra)  # type: ignore[arg-type]
        except click.UsageError as exc:
            raise _OneLineError(" ".join(exc.format_message().split())) from None

    def invoke(self, ctx: click.Context) -> object:
        try:
            return super().invoke(ctx)
        except StartupError as exc:
            raise _OneLineError(str(exc)) from None


@main.command(cls=_StartupCommand)
@_data_dir_option
@click.option(
    "--listen",
    "listen",
    multiple=True,
    metavar="HOST:PORT[=REGION]",
    help=f"Address to serve on (repeatable; default 127.0.0.1:{DEFAULT_PORT}). "
    "=REGION marks the listener as that Region's entry point.",
)
@click.option("--tls-cert", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None)
@click.option("--tls-key", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None)
@click.option("--workers", type=click.IntRange(1, 64), default=1, show_default=True, help="Worker processes.")
@click.option("--config", "config_file", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="TOML config file (default: DATA_DIR/opensts.toml when present; keys: docs/CONFIG.md).")
@click.option("--quota-rps", type=click.FloatRange(0), default=None, help="Requests/s of every quota bucket (0: off).")
@click.option("--quota-burst", type=click.FloatRange(1), default=None, help="Burst of every quota bucket.")
@click.option("--public-url", default=None, help="Public base URL of this server (issuer URLs of outbound federation).")
@click.option("--ca-bundle", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None,
              envvar="OPENSTS_CA_BUNDLE", help="Extra CA certificates trusted when fetching IdP documents "
              "(and named in the banner's command for a TLS server).")
@click.option("--no-audit", is_flag=True, help="Do not record calls (for benchmarking the cost of auditing only).")
@click.option("--region", default=None, metavar="REGION",
              help="Run as a node of REGION's fleet (default: $OPENSTS_REGION; unset: one server for every "
              "Region). See docs/DEPLOYMENT.md.")
@click.option("--log-format", type=click.Choice(["text", "json"]), default=None,
              help="Log output on stderr: text (default) or json (one object per line, one per request; "
              "config: [logging] format).")
@click.option("--no-metrics", is_flag=True, help="Do not serve GET /metrics nor count (config: [metrics] enabled).")
@click.option("--metrics-listen", default=None, metavar="HOST:PORT",
              help="Serve GET /metrics on this address only, not on the API listeners (config: [metrics] listen).")
@click.option("--shutdown-timeout", type=click.FloatRange(0, min_open=True), default=None, metavar="SECONDS",
              help="On SIGTERM/SIGINT: seconds for the requests in flight and the last audit delivery "
              "(default: [server] shutdown_timeout, else 10).")
@click.option("--reuse-port", is_flag=True,
              help="Join the listening sockets of a running server on the same addresses (SO_REUSEPORT), for a "
              "restart without dropped requests: docs/OPERATIONS.md.")
def serve(data_dir: Path | None, listen: tuple[str, ...], tls_cert: Path | None, tls_key: Path | None, workers: int,
          config_file: Path | None, quota_rps: float | None, quota_burst: float | None, public_url: str | None,
          ca_bundle: Path | None, no_audit: bool, region: str | None, log_format: str | None,
          no_metrics: bool, metrics_listen: str | None, shutdown_timeout: float | None, reuse_port: bool) -> None:
    """Run the server (SQLite in the data folder by default)."""
    from opensts.config import check_listener_regions
    from opensts.edge.serve import bind_sockets, run_server
    from opensts.logs import configure as configure_logs

    if log_format:
        configure_logs(log_format)  # a start-up problem found before the config file is read: in this format too
    check_environment()
    node = NodeRole.from_environment(region)
    if bool(tls_cert) != bool(tls_key):
        raise StartupError("--tls-cert and --tls-key go together")
    if tls_cert and tls_key:
        check_tls_files(tls_cert, tls_key)
    listeners = tuple(parse_listen(v) for v in listen) or Settings(Path(".")).listeners
    directory = _data_dir(data_dir)
    config = _load_config(config_file, directory, quota_rps, quota_burst)
    log_format = log_format or config.log_format
    configure_logs(log_format, access=config.access_log)  # before anything logs, and before the fork
    check_listener_regions(listeners, config)
    _check_node(node, listeners, config)
    boot = _open_and_bootstrap(directory, node, config)
    metrics_on = config.metrics and not no_metrics
    scrape = _metrics_listener(metrics_listen or config.metrics_listen, reuse_port) if metrics_on else None
    socks = bind_sockets(listeners, reuse_port=reuse_port)
    bound = tuple(type(lst)(lst.host, s.getsockname()[1], lst.region) for lst, s in zip(listeners, socks))
    settings = Settings(
        directory,
        bound,
        tls_cert=tls_cert,
        tls_key=tls_key,
        workers=workers,
        clock_offset=clock_offset_from_env(),
        config=config,
        public_url=public_url,
        ca_bundle=ca_bundle,
        audit=not no_audit,
        node=node,
        metrics=metrics_on,
        log_format=log_format,
        metrics_listen=scrape[0] if scrape else None,
        shutdown_timeout=shutdown_timeout if shutdown_timeout is not None else config.shutdown_timeout,
    )
    if scrape is not None:
        from opensts.edge.metrics_listener import start
        from opensts.edge.serve import prepare_metrics

        prepare_metrics(settings)  # the folder exists before the first scrape
        start(scrape[1])
    run_server(settings, socks, on_ready=lambda: _print_banner(settings, boot))  # the banner once it answers


def _metrics_listener(value: str | None, reuse_port: bool = False) -> tuple[Listener, object] | None:
    """``--metrics-listen HOST:PORT``: its listener (port resolved) and bound socket, or None."""
    if not value:
        return None
    from opensts.edge.serve import bind_sockets, reuseport_socket

    try:
        lst = parse_listen(value)
    except StartupError as exc:
        raise StartupError(str(exc).replace("--listen", "--metrics-listen").replace("[=REGION]", "")) from None
    if lst.region:
        raise StartupError(f"--metrics-listen {value}: no =REGION here (it serves only GET /metrics)")
    probe = bind_sockets((lst,), reuse_port=reuse_port)[0]  # a port in use: refused here, unless --reuse-port
    family, address = probe.family, probe.getsockname()
    probe.close()
    # One member of an SO_REUSEPORT group, as the API listeners are: a restart's new server
    # (--reuse-port) scrapes beside the old one instead of failing on the metrics port.
    sock = reuseport_socket(family, address)
    return type(lst)(lst.host, address[1]), sock


def refuse_hot_standby(directory: Path, command: str, what: str) -> None:
    """One line (exit 1) when ``OPENSTS_DATABASE_URL`` is a read-only hot standby: a command that
    writes runs against the control plane's primary, and the standby receives ``what`` by replication."""
    if not os.environ.get("OPENSTS_DATABASE_URL"):
        return
    from opensts.store.database import database_url, is_hot_standby, make_engine

    probe = make_engine(database_url(directory))
    standby = is_hot_standby(probe)
    probe.dispose()
    if standby:
        raise _OneLineError(f"OPENSTS_DATABASE_URL is a read-only hot standby: run {command} against the control "
                            f"plane's primary (the standby receives {what} by replication)")


def _check_node(node: NodeRole, listeners: tuple[Listener, ...], config: FileConfig) -> None:
    """A fleet node's Region must exist, and its listeners are its own Region's entry points:
    one marked ``=OTHER-REGION`` would accept requests this node must refuse."""
    region = node.region
    if region is None:
        return
    if config.catalog().region(region) is None:
        raise StartupError(f"--region {region}: unknown Region (see `opensts audit endpoints`, or add a partition "
                           "in the config file)")
    for lst in listeners:
        if lst.region and lst.region != region:
            raise StartupError(f"--listen {lst.url_host}:{lst.port}={lst.region}: this server is a node of "
                               f"{region}; its listeners are {region}'s entry points (run a node of "
                               f"{lst.region} for that Region; see docs/DEPLOYMENT.md)")


def _open_and_bootstrap(directory: Path, node: NodeRole | None = None, config: FileConfig | None = None) -> object:
    """Open (create, migrate) the store and ensure the default account; a data folder this user
    cannot write, or a database that cannot be opened, is a :class:`StartupError` naming it.

    On a fleet node whose own database is a read-only hot standby nothing is written (the first
    node on the primary, or ``opensts migrate``, did it); a fleet node on a writable database
    also creates the token-sealing key of every Region that lacks one."""
    from sqlalchemy.exc import SQLAlchemyError

    from opensts.service.bootstrap import bootstrap, describe
    from opensts.store.database import database_url, open_node_stores

    try:
        directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        if not os.access(directory, os.W_OK | os.X_OK):
            raise PermissionError(13, "Permission denied", str(directory))
        check_master_key_file(directory)
        node = node or NodeRole()
        stores = open_node_stores(directory, node.control_plane_url, run_migrations=True)
        if not stores.writable and not node.region_store:
            raise StartupError("this node's database is a read-only replica, so what STS writes (MFA codes and SAML "
                               "assertions used) must go to the Region's Redis: set OPENSTS_REGION_STORE (or "
                               "OPENSTS_QUOTA_STORE) to redis://HOST:PORT/N")
        if stores.writable:
            boot = bootstrap(stores.data, directory)
            if node.region is not None:
                _create_region_keys(stores.data, config)
        else:
            boot = describe(stores.data, directory)
        stores.data.engine.dispose()
        stores.control.engine.dispose()
    except OSError as exc:
        where = f"{exc.filename}: " if exc.filename and str(exc.filename) != str(directory) else ""
        raise StartupError(f"cannot use data folder {directory}: {where}{(exc.strerror or str(exc)).lower()} "
                           "(pass --data-dir DIR with a folder this user can write)") from None
    except SystemExit as exc:  # the store's own refusals (a master key that is not this database's)
        if not isinstance(exc.code, str):
            raise
        raise StartupError(exc.code.removeprefix("error: ")) from None
    except (SQLAlchemyError, ImportError) as exc:
        raise StartupError(f"cannot open the database {_redacted(database_url(directory))}: "
                           f"{_first_line(getattr(exc, 'orig', None) or exc)} (check OPENSTS_DATABASE_URL)") from None
    return boot


def _redacted(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


def _first_line(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines() or [type(exc).__name__]
    return lines[0]


def _load_config(path: Path | None, directory: Path, rps: float | None, burst: float | None) -> FileConfig:
    import dataclasses

    from opensts.config import load_config

    config = load_config(path, directory)
    if rps is not None or burst is not None:
        quotas = dataclasses.replace(
            config.quotas,
            rps=rps if rps is not None else config.quotas.rps,
            burst=burst if burst is not None else (rps if rps is not None else config.quotas.burst),
            groups=None,
        )
        config = dataclasses.replace(config, quotas=quotas)
    return config


def _print_banner(settings: Settings, boot: object) -> None:
    from opensts.banner import banner_lines, start_event

    if settings.log_format == "json":  # one JSON object; the one-time secret only in the 0600 file
        start_event(settings, boot)
        return
    click.echo("\n".join(banner_lines(settings, boot)))
    sys.stdout.flush()


def _create_region_keys(repo: SqlRepository, config: FileConfig | None) -> list[str]:
    """The token-sealing key of every Region of every partition (AWS's catalog and the config
    file's), created on the primary so that each reaches every Region by replication."""
    from opensts.auth.keyring import create_missing_keys
    from opensts.regions.catalog import default_catalog

    catalog = config.catalog() if config is not None else default_catalog()
    return create_missing_keys(repo, [r.name for r in catalog.regions()])


@main.command()
@_data_dir_option
def migrate(data_dir: Path | None) -> None:
    """Create or upgrade the database schema, and what every Region needs from the primary.

    Run against a fleet's control-plane primary (OPENSTS_DATABASE_URL = the primary) it also
    creates the token-sealing key of every Region of every partition, the AWS managed policies and
    the outbound-federation signing keys, so that nodes on the replicas (which never write) can serve."""
    import time

    from opensts.service.federation.outbound import SigningKeys
    from opensts.service.iam.aws_managed import seed_aws_managed_policies
    from opensts.store.database import open_store

    directory = _data_dir(data_dir)
    refuse_hot_standby(directory, "`opensts migrate`", "everything")
    repo = open_store(directory)
    created = _create_region_keys(repo, _load_config(None, directory, None, None))
    seed_aws_managed_policies(repo)
    SigningKeys(repo).create_ahead(int(time.time()))
    repo.engine.dispose()
    click.echo("database is at the newest schema revision")
    if created:
        click.echo(f"token-sealing keys created for {len(created)} Regions and purposes")


@main.group()
def account() -> None:
    """Manage accounts."""


@account.command("create")
@click.argument("account_id")
@click.option("--name", default=None, help="A friendly name for the account.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON: AccountId, AccessKeyId, SecretAccessKey.")
@_data_dir_option
def account_create(account_id: str, name: str | None, as_json: bool, data_dir: Path | None) -> None:
    """Create ACCOUNT_ID with an `admin` user and print its access key."""
    from opensts.service.accounts import InvalidAccountId, create_account
    from opensts.store.database import open_store
    from opensts.store.repository import EntityAlreadyExists

    repo = open_store(_data_dir(data_dir))
    try:
        key = create_account(repo, account_id, name)
    except InvalidAccountId as exc:
        raise click.BadParameter(str(exc), param_hint="ACCOUNT_ID") from exc
    except EntityAlreadyExists as exc:
        raise click.ClickException(f"account {account_id} already exists") from exc
    _print_key(key, as_json)


@account.command("create-root-key")
@click.argument("account_id")
@click.option("--json", "as_json", is_flag=True, help="Print JSON: AccountId, AccessKeyId, SecretAccessKey.")
@_data_dir_option
def account_create_root_key(account_id: str, as_json: bool, data_dir: Path | None) -> None:
    """Create an access key for ACCOUNT_ID's root user (for testing root-user behaviour)."""
    from opensts.service.accounts import create_root_key
    from opensts.store.database import open_store

    repo = open_store(_data_dir(data_dir))
    if repo.get_account(account_id) is None:
        raise click.ClickException(f"no account {account_id}")
    _print_key(create_root_key(repo, account_id), as_json)


@account.command("list")
@_data_dir_option
def account_list(data_dir: Path | None) -> None:
    """List accounts."""
    from opensts.store.database import open_store

    for rec in open_store(_data_dir(data_dir)).list_accounts():
        click.echo(f"{rec.id}\t{rec.name}")


def _set_opt_in(region: str, account_id: str, data_dir: Path | None, *, enable: bool) -> None:
    from opensts.regions.catalog import default_catalog
    from opensts.regions.rules import DISABLED, ENABLED

    repo = _existing_account(account_id, data_dir)
    reg = default_catalog().region(region)
    if reg is None:
        raise click.BadParameter(f"unknown Region {region}", param_hint="REGION")
    if not reg.opt_in:
        raise click.ClickException(f"{region} is enabled by default and cannot be enabled or disabled")
    repo.set_region_opt_status(account_id, region, ENABLED if enable else DISABLED)
    click.echo(f"{region}: {'ENABLED' if enable else 'DISABLED'} for account {account_id}")


@main.group()
def sts() -> None:
    """STS settings per account and Region."""


def _set_sts_region(region: str, account_id: str, data_dir: Path | None, *, active: bool) -> None:
    from opensts.regions.catalog import default_catalog

    repo = _existing_account(account_id, data_dir)
    reg = default_catalog().region(region)
    if reg is None:
        raise click.BadParameter(f"unknown Region {region}", param_hint="REGION")
    if reg.opt_in:
        raise click.ClickException(f"{region} is an opt-in Region: STS there follows the Region's enablement")
    if not reg.can_deactivate and not active:
        raise click.ClickException(f"STS cannot be deactivated in {region}")
    repo.set_sts_active(account_id, region, active)
    click.echo(f"STS in {region}: {'active' if active else 'inactive'} for account {account_id}")


def _region_command(group: click.Group, name: str, doc: str, apply: object, **flag: bool) -> None:
    """Register ``opensts GROUP NAME REGION --account ID`` calling ``apply(region, account, data_dir, **flag)``."""

    @group.command(name, help=doc)
    @click.argument("region")
    @click.option("--account", "account_id", required=True, help="The 12-digit account.")
    @_data_dir_option
    def command(region: str, account_id: str, data_dir: Path | None) -> None:
        apply(region, account_id, data_dir, **flag)  # type: ignore[operator]


_region_command(account, "enable-region", "Enable an opt-in REGION for an account (like `aws account enable-region`).",
                _set_opt_in, enable=True)
_region_command(account, "disable-region", "Disable an opt-in REGION for an account.", _set_opt_in, enable=False)
_region_command(sts, "deactivate-region", "Deactivate STS in REGION for an account (Regions enabled by default; "
                "never us-east-1).", _set_sts_region, active=False)
_region_command(sts, "activate-region", "Activate STS in REGION for an account.", _set_sts_region, active=True)


def _existing_account(account_id: str, data_dir: Path | None) -> object:
    from opensts.store.database import open_store

    repo = open_store(_data_dir(data_dir))
    if repo.get_account(account_id) is None:
        raise click.ClickException(f"no account {account_id}")
    return repo


def _print_key(key: object, as_json: bool) -> None:
    from opensts.service.accounts import AccountKey

    assert isinstance(key, AccountKey)
    if as_json:
        click.echo(json.dumps(key.as_json()))
        return
    who = f"IAM user {key.user_name}" if key.user_name else "root user"
    click.echo(f"account {key.account_id}, {who}")
    click.echo(f"AWS_ACCESS_KEY_ID={key.access_key_id}")
    click.echo(f"AWS_SECRET_ACCESS_KEY={key.secret_access_key}")
