"""A self-contained HTML page with an SVG chart of global / regional / unknown STS calls over time.

No JavaScript, no CDN, no network: the page must open from a laptop after copying it out of a
locked-down host.  Stacked bars per hour (spans up to 7 days) or per day; each bar has a ``<title>``
tooltip with its numbers.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from html import escape
from typing import Any

__all__ = ["to_html", "buckets"]

COLORS = {"global": "#d62728", "regional": "#2ca02c", "unknown": "#9e9e9e"}
W, H, LEFT, RIGHT, TOP, BOTTOM = 960, 360, 64, 16, 16, 56


def buckets(timeline: list[dict[str, Any]]) -> tuple[str, list[tuple[datetime, list[int]]]]:
    """(``hour``|``day``, contiguous buckets with zero-filled gaps) from the report's timeline."""
    points: dict[datetime, list[int]] = {}
    for row in timeline:
        try:
            when = datetime.strptime(row["hour"], "%Y-%m-%dT%H")
        except ValueError:
            continue
        points[when] = [row["global"], row["regional"], row["unknown"]]
    if not points:
        return "hour", []
    first, last = min(points), max(points)
    unit = "hour" if last - first <= timedelta(days=7) else "day"
    step = timedelta(hours=1) if unit == "hour" else timedelta(days=1)
    if unit == "day":
        merged: dict[datetime, list[int]] = {}
        for when, counts in points.items():
            slot = merged.setdefault(when.replace(hour=0), [0, 0, 0])
            for i in range(3):
                slot[i] += counts[i]
        points = merged
        first, last = min(points), max(points)
    out = []
    when = first
    while when <= last:
        out.append((when, points.get(when, [0, 0, 0])))
        when += step
    return unit, out


def _svg(unit: str, series: list[tuple[datetime, list[int]]]) -> str:
    if not series:
        return "<p>No timestamped STS events.</p>"
    peak = max(sum(c) for _, c in series) or 1
    plot_w, plot_h = W - LEFT - RIGHT, H - TOP - BOTTOM
    bw = plot_w / len(series)
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {W} {H}" width="{W}" height="{H}" '
             'font-family="sans-serif" font-size="11" role="img" aria-label="STS calls over time">']
    for i in range(5):  # horizontal grid and y labels
        v = peak * i / 4
        y = TOP + plot_h - plot_h * i / 4
        parts.append(f'<line x1="{LEFT}" x2="{W - RIGHT}" y1="{y:.1f}" y2="{y:.1f}" stroke="#e0e0e0"/>')
        parts.append(f'<text x="{LEFT - 6}" y="{y + 4:.1f}" text-anchor="end">{v:,.0f}</text>')
    fmt = "%Y-%m-%d %H:00" if unit == "hour" else "%Y-%m-%d"
    label_every = max(1, len(series) // 8)
    for i, (when, counts) in enumerate(series):
        x = LEFT + i * bw
        y = TOP + plot_h
        tip = f"{when.strftime(fmt)}: global {counts[0]:,}, regional {counts[1]:,}, unknown {counts[2]:,}"
        parts.append(f"<g><title>{escape(tip)}</title>")
        for name, n in zip(("global", "regional", "unknown"), counts):
            if n:
                h = plot_h * n / peak
                y -= h
                parts.append(f'<rect x="{x:.2f}" y="{y:.2f}" width="{max(bw - 0.5, 0.5):.2f}" height="{h:.2f}" '
                             f'fill="{COLORS[name]}"/>')
        parts.append("</g>")
        if i % label_every == 0:
            parts.append(f'<text x="{x + bw / 2:.1f}" y="{H - BOTTOM + 16}" text-anchor="middle">'
                         f"{escape(when.strftime(fmt))}</text>")
    parts.append(f'<text x="{LEFT}" y="{H - 12}">calls per {unit} (UTC)</text>')
    lx = W - RIGHT - 250
    for i, name in enumerate(("global", "regional", "unknown")):
        parts.append(f'<rect x="{lx + i * 85}" y="{H - 22}" width="10" height="10" fill="{COLORS[name]}"/>'
                     f'<text x="{lx + i * 85 + 14}" y="{H - 13}">{name}</text>')
    parts.append("</svg>")
    return "".join(parts)


def to_html(report: dict[str, Any], title: str = "STS global-endpoint usage") -> str:
    unit, series = buckets(report["timeline"])
    t = report["totals"]
    rows = "".join(
        f"<tr><td class=n>{c['calls']:,}</td><td>{escape(c['principal'])}</td><td>{escape(c['role'] or '')}</td>"
        f"<td>{escape(', '.join(c['serving_regions']))}</td>"
        f"<td>{escape(', '.join(a['sdk'] for a in c['user_agents'][:3]))}</td></tr>"
        for c in report["callers"][:100]
    )
    changes = "".join(f"<li><b>{escape(s['sdk'])}</b> ({s['calls']:,} calls): {escape(s['change'])}</li>"
                      for s in report["sdks"][:50])
    period = report["period"]
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{escape(title)}</title>
<style>body{{font-family:sans-serif;margin:24px;color:#222}}table{{border-collapse:collapse}}
td,th{{border-bottom:1px solid #ddd;padding:3px 8px;text-align:left;font-size:13px}}td.n{{text-align:right}}
.g{{color:{COLORS['global']}}}.r{{color:{COLORS['regional']}}}</style></head><body>
<h1>{escape(title)}</h1>
<p>{escape(str(period['first'] or ''))} … {escape(str(period['last'] or ''))} —
<b class=g>global {t['global']:,}</b>, <b class=r>regional {t['regional']:,}</b>, unknown {t['unknown']:,}</p>
{_svg(unit, series)}
<h2>Global-endpoint callers</h2>
<table><tr><th>calls</th><th>principal</th><th>role</th><th>served in</th><th>SDKs</th></tr>{rows}</table>
<h2>What to change</h2><ul>{changes}</ul>
</body></html>
"""
