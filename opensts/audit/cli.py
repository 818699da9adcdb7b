"""``opensts audit …`` — commands over audit trails.

``opensts audit endpoints [PATHS…]`` reads CloudTrail logs (ours by default: ``DATA_DIR/trail``, or
real ones exported from AWS) and reports who still calls the STS global endpoint, how often, from
where, and what to change.  See docs/AUDIT-REPORT.md.
"""

from __future__ import annotations

import sys
from pathlib import Path

import click
import orjson

__all__ = ["audit"]

PROGRESS_MIN_BYTES = 64 << 20


@click.group()
def audit() -> None:
    """Audit trails: reports over CloudTrail logs."""


@audit.command("endpoints")
@click.argument("paths", nargs=-1, type=click.Path(path_type=Path))
@click.option("--data-dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Data folder whose trail is read when no PATHS are given "
                   "(default: $OPENSTS_DATA_DIR, else ./.opensts).")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@click.option("--csv", "as_csv", is_flag=True, help="Print CSV, one row per global-endpoint caller.")
@click.option("--chart", "chart", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Also write an HTML page with a chart of global vs regional calls over time.")
@click.option("--group-by", type=click.Choice(["principal", "role"]), default="principal", show_default=True,
              help="One row per principal ARN, or per role for assumed-role sessions.")
@click.option("--top", type=click.IntRange(0), default=50, show_default=True,
              help="Rows in the text table (0: all).")
@click.option("--show-unknown", is_flag=True, help="Also list callers of unclassifiable STS events.")
@click.option("--jobs", "-j", type=click.IntRange(1, 64), default=None, help="Worker processes (default: CPUs).")
@click.option("--progress/--no-progress", default=None,
              help="Progress bar on stderr (default: when stderr is a terminal and the input is large).")
def endpoints(paths: tuple[Path, ...], data_dir: Path | None, as_json: bool, as_csv: bool, chart: Path | None,
              group_by: str, top: int, show_unknown: bool, jobs: int | None, progress: bool | None) -> None:
    """Who still calls the STS global endpoint (sts.amazonaws.com), and what to change.

    PATHS are CloudTrail log files or folders (walked recursively): {"Records": [...]} delivery files,
    JSON arrays, single records or JSON lines, plain or gzip.  Without PATHS, our own trail
    (DATA_DIR/trail) is read.
    """
    from opensts.audit.report.chart import to_html
    from opensts.audit.report.render import build, to_csv, to_text
    from opensts.audit.report.scan import plan, scan
    from opensts.settings import default_data_dir

    if as_json and as_csv:
        raise click.UsageError("--json and --csv are exclusive")
    if not paths:
        trail = (data_dir if data_dir is not None else default_data_dir()) / "trail"
        if not trail.is_dir():
            click.echo(f"error: no trail at {trail} (the server writes it when auditing is on); "
                       "give CloudTrail log files or folders as PATHS, or --data-dir", err=True)
            sys.exit(2)
        paths = (trail,)
    missing = [p for p in paths if not p.exists()]
    if missing:
        for p in missing:
            click.echo(f"error: {p}: no such file or folder", err=True)
        sys.exit(2)
    files = plan(paths)
    total = sum(n for _, n in files)
    if progress is None:
        progress = sys.stderr.isatty() and total >= PROGRESS_MIN_BYTES
    warn = lambda msg: click.echo(f"warning: {msg}", err=True)  # noqa: E731
    kwargs = dict(jobs=jobs, group_by=group_by, track_unknown=show_unknown, warn=warn)
    try:
        if progress:
            with click.progressbar(length=total, label="reading", file=sys.stderr, show_eta=True,
                                   item_show_func=None) as bar:
                agg, stats = scan(files, on_progress=bar.update, **kwargs)  # type: ignore[arg-type]
        else:
            agg, stats = scan(files, **kwargs)  # type: ignore[arg-type]
    except RuntimeError as exc:  # a worker process failed (e.g. killed for memory): no partial report
        click.echo(f"error: {exc}", err=True)
        sys.exit(1)
    report = build(agg, stats)
    if chart is not None:
        chart.write_text(to_html(report), encoding="utf-8")
        click.echo(f"chart written to {chart}", err=True)
    if as_json:
        sys.stdout.buffer.write(orjson.dumps(report, option=orjson.OPT_INDENT_2) + b"\n")
    elif as_csv:
        click.echo(to_csv(report), nl=False)
    else:
        click.echo(to_text(report, top=top), nl=False)
