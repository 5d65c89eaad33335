"""Line charts as inline SVG, drawn on the server: no JavaScript, nothing fetched, the UI's
strict CSP kept (colours come from classes in ``ui.css``, never from ``style=``).

``line_chart`` is a pure function of its data: the points (Unix time, value), the window, the
bands to shade (on-battery periods), the language and a value formatter. Times on the axis
are Bangkok's, dates in the language's calendar (Buddhist Era in Thai). Every chart carries its
text alternative: the same points as a table (in a ``<details>``), so a screen reader or a
copy-paste gets the numbers the line shows. Markup is built like the pages' (``web_pages``):
every value escaped unless it is already ``Markup``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache

from markupsafe import Markup, escape

from upkeep.dashboards.i18n import Lang, label
from upkeep.dashboards.i18n import date as fdate
from upkeep.kit import thai

WIDTH, HEIGHT = 720, 220
LEFT, RIGHT, TOP, BOTTOM = 64, 12, 10, 40
DAY = 86400


@dataclass(frozen=True)
class Band:
    """A shaded period (an on-battery stretch), clipped to the chart by the drawing."""

    start: float
    end: float
    text: str


def _e(value: object) -> Markup:
    return escape(str(value))


def battery_periods(events: Iterable[tuple[float, str]], end: float) -> list[tuple[float, float]]:
    """(start, end) of each on-battery stretch from power events (time, kind), in any order;
    one still open ends at ``end``."""
    periods: list[tuple[float, float]] = []
    opened: float | None = None
    for when, kind in sorted(events):
        if kind == "on_battery" and opened is None:
            opened = when
        elif kind == "on_line" and opened is not None:
            periods.append((opened, when))
            opened = None
    if opened is not None:
        periods.append((opened, max(opened, end)))
    return periods


def segments(points: Sequence[tuple[float, float]], step: float) -> list[list[tuple[float, float]]]:
    """The points split where more than two steps are missing (the agent was down, the
    target failed): a gap is drawn as a gap, never as a straight line across it."""
    out: list[list[tuple[float, float]]] = []
    for point in points:
        if out and point[0] - out[-1][-1][0] <= 2 * step:
            out[-1].append(point)
        else:
            out.append([point])
    return out


def value_range(points: Sequence[tuple[float, float]], floor: float | None,
                ceiling: float | None) -> tuple[float, float]:
    values = [v for _, v in points]
    lo = min(values) if floor is None and values else (floor or 0.0)
    hi = max(values) if values else 1.0
    if ceiling is not None:
        hi = max(hi, ceiling)
    if floor is not None:
        lo = min(lo, floor)
    if hi - lo < 1e-9:
        lo, hi = lo - 1, hi + 1
    return lo, hi


def time_ticks(start: float, end: float, lang: Lang) -> list[tuple[float, str]]:
    """Tick times and their labels: hours (Bangkok) for a day, dates for longer ranges."""
    span = end - start
    if span <= 2 * DAY:
        every = 3 * 3600
        fmt: Callable[[float], str] = lambda t: thai.to_bangkok(t).strftime("%H:%M")  # noqa: E731
    else:
        every = DAY if span <= 10 * DAY else 15 * DAY
        fmt = lambda t: fdate(t, lang)  # noqa: E731
    offset = 7 * 3600  # ticks on Bangkok's hours and midnights, not UTC's
    first = ((start + offset) // every + 1) * every - offset
    ticks = []
    t = first
    while t <= end:
        ticks.append((t, fmt(t)))
        t += every
    return ticks


def line_chart(*, title: str, points: Sequence[tuple[float, float]], start: float, end: float,
               step: float, lang: Lang, fmt: Callable[[float], str], bands: Sequence[Band] = (),
               floor: float | None = None, ceiling: float | None = None,
               chart_id: str = "chart") -> Markup:
    """One ``<figure>``: the SVG (line, bands, axes) and the table of its points."""
    lo, hi = value_range(points, floor, ceiling)
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    span = max(end - start, 1.0)

    def x(t: float) -> float:
        return LEFT + (min(max(t, start), end) - start) / span * plot_w

    def y(v: float) -> float:
        return TOP + (1 - (v - lo) / (hi - lo)) * plot_h

    parts: list[Markup] = []
    for band in bands:
        if band.end < start or band.start > end:
            continue
        x0, x1 = x(band.start), x(band.end)
        parts.append(Markup(
            '<rect class="band" x="{:.1f}" y="{}" width="{:.1f}" height="{}" data-start="{:.0f}"'
            ' data-end="{:.0f}"><title>{}</title></rect>').format(
                x0, TOP, max(x1 - x0, 1.0), plot_h, band.start, band.end, band.text))
    for i in range(5):
        v = lo + (hi - lo) * i / 4
        parts.append(Markup(
            '<line class="grid" x1="{}" x2="{}" y1="{:.1f}" y2="{:.1f}"/>'
            '<text class="axis" x="{}" y="{:.1f}" text-anchor="end">{}</text>').format(
                LEFT, WIDTH - RIGHT, y(v), y(v), LEFT - 6, y(v) + 4, fmt(v)))
    for t, text in time_ticks(start, end, lang):
        parts.append(Markup(
            '<line class="tick" x1="{:.1f}" x2="{:.1f}" y1="{}" y2="{}"/>'
            '<text class="axis" x="{:.1f}" y="{}" text-anchor="middle">{}</text>').format(
                x(t), x(t), TOP + plot_h, TOP + plot_h + 5, x(t), TOP + plot_h + 20, text))
    for run in segments(points, step):
        coords = " ".join(f"{x(t):.1f},{y(v):.1f}" for t, v in run)
        if len(run) == 1:
            parts.append(Markup('<circle class="dot" cx="{:.1f}" cy="{:.1f}" r="2.5"/>').format(
                x(run[0][0]), y(run[0][1])))
        else:
            parts.append(Markup('<polyline class="line" points="{}"/>').format(coords))
    zone = label("chart.zone", lang)
    if not points:
        parts.append(Markup('<text class="empty" x="{}" y="{}" text-anchor="middle">{}</text>')
                     .format(LEFT + plot_w / 2, TOP + plot_h / 2, label("chart.no_data", lang)))
    svg = Markup(
        '<svg class="chart" viewBox="0 0 {} {}" role="img" aria-labelledby="{}-t" '
        'data-points="{}" preserveAspectRatio="xMidYMid meet"><title id="{}-t">{}</title>'
        '<rect class="frame" x="{}" y="{}" width="{}" height="{}"/>{}'
        '<text class="axis" x="{}" y="{}" text-anchor="end">{}</text></svg>').format(
            WIDTH, HEIGHT, chart_id, len(points), chart_id, title, LEFT, TOP, plot_w, plot_h,
            Markup("").join(parts), WIDTH - RIGHT, HEIGHT - 4, zone)
    # one row per point (1440 for a day): plain f-strings with explicit escaping of the two
    # texts, because Markup.format costs ~10x more per field (a 4-chart page took 700 ms)
    rows = Markup("".join(
        f'<tr data-t="{t:.0f}" data-v="{float(v)!r}"><td>{escape(_when(t, lang))}</td>'
        f"<td>{escape(fmt(v))}</td></tr>" for t, v in points))
    band_rows = Markup("").join(
        Markup('<li>{}</li>').format(band.text) for band in bands
        if not (band.end < start or band.start > end))
    table = Markup(
        '<details class="chart-data"><summary>{}</summary>{}<table><caption>{}</caption>'
        '<thead><tr><th scope="col">{}</th><th scope="col">{}</th></tr></thead>'
        "<tbody>{}</tbody></table></details>").format(
            label("chart.as_table", lang),
            Markup('<ul class="bands">{}</ul>').format(band_rows) if band_rows else Markup(),
            title, label("time", lang), title, rows)
    return Markup('<figure class="chart" id="{}"><figcaption>{}</figcaption>{}{}</figure>').format(
        chart_id, title, svg, table)


@lru_cache(maxsize=8192)
def _when(t: float, lang: Lang) -> str:
    return str(thai.format_datetime(t, lang))
