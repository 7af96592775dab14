"""Charts for the supervisor's and NACC's pages, drawn on the server with pygal as SVG with no script at all.

Each chart is an ``<img src="data:image/svg+xml;base64,...">`` (the pages' Content-Security-Policy allows data:
images and nothing inline): an SVG used as an image is a document of its own, never runs a script and loads
nothing, so its own ``<style>`` does not need the page's ``style-src``. pygal always writes a configuration
``<script>`` even with ``js=[]``; it is removed here, with pygal's comments, before encoding. Every chart
comes with the same numbers as a table (the template's), for screen readers and for copying.
"""
from __future__ import annotations

import base64
import re
from dataclasses import dataclass

import pygal
from flask_babel import gettext as _
from pygal.style import Style

from . import labels

THAI_FONTS = '"Sarabun", "Loma", "Garuda", "Norasi", "Leelawadee UI", "Tahoma", "Noto Sans Thai", sans-serif'
# the stylesheet's colours (app.css :root) for the states, so a chart and the badges agree
STATE_COLOURS = {"not_open": "#8a929c", "open": "#5b8fc7", "submitted": "#1e7a34", "submitted_late": "#a35c00",
                 "overdue": "#b3261e", "returned": "#d08a2c", "accepted": "#0b3d6e", "locked": "#5c1410"}
SUBMITTED_STATES = ("submitted", "submitted_late", "returned", "accepted")    # as the tracker counts them
STYLE = Style(font_family=THAI_FONTS, background="#ffffff", plot_background="#ffffff", foreground="#1b1f24",
              foreground_strong="#1b1f24", foreground_subtle="#c9ced6", opacity="1", opacity_hover="1",
              colors=("#1e7a34", "#b3261e", "#0b3d6e", "#a35c00"), label_font_size=17, major_label_font_size=17,
              value_font_size=17, value_label_font_size=17, legend_font_size=17, title_font_size=18,
              tooltip_font_size=15)
# drawn this wide (and shown at this size, or scaled down on a phone to about 340 px): labels stay near 16 px
WIDTH = 360
_SCRIPT = re.compile(r"<script\b[^>]*>.*?</script>", re.DOTALL | re.IGNORECASE)
_COMMENT = re.compile(r"<!--.*?-->", re.DOTALL)


@dataclass(frozen=True)
class Chart:
    """One chart: its image (a data: URI) and the sentence that stands for it (the image's ``alt``)."""

    uri: str
    alt: str
    width: int = WIDTH
    height: int = 300


def _config(**extra) -> dict:
    return dict(js=[], disable_xml_declaration=True, style=STYLE, explicit_size=True, tooltip_border_radius=0,
                print_values=False, show_y_guides=False, show_x_guides=True,
                legend_at_bottom=True, legend_at_bottom_columns=1, truncate_legend=-1, truncate_label=-1,
                margin=12, spacing=10, **extra)


def svg(chart) -> str:
    """The chart's SVG text without pygal's script and comments."""
    text = chart.render(is_unicode=True)
    return _COMMENT.sub("", _SCRIPT.sub("", text))


def data_uri(svg_text: str) -> str:
    """An SVG as a data: URI for ``<img src>``."""
    return "data:image/svg+xml;base64," + base64.b64encode(svg_text.encode("utf-8")).decode("ascii")


def _style(colours) -> Style:
    """The charts' style with the series in ``colours`` (so each legend's swatch matches its bar)."""
    return Style(**{**{k: getattr(STYLE, k) for k in (
        "font_family", "background", "plot_background", "foreground", "foreground_strong", "foreground_subtle",
        "opacity", "opacity_hover", "label_font_size", "major_label_font_size", "value_font_size",
        "value_label_font_size", "legend_font_size", "title_font_size", "tooltip_font_size")},
        "colors": tuple(colours)})


def _one_bar_each(series: list, *, value_axis: list, formatter=None) -> tuple:
    """Horizontal bars, one series per bar, named in the legend below (a phone has no room for labels at the
    side): ``series`` is (legend text, value, colour); the chart and its height."""
    height = 70 + 30 * max(len(series), 1) + 30 * len(series)
    extra = {"value_formatter": formatter} if formatter else {}
    chart = pygal.HorizontalBar(**{**_config(width=WIDTH, height=height, show_legend=True, y_labels=value_axis,
                                             margin_right=30, **extra),
                                   "style": _style([colour for _t, _v, colour in series] or ["#555d66"])})
    for text, value, _colour in reversed(series):           # pygal draws the first series at the bottom
        chart.add(text, [value])
    if not series:                                          # no units at all: an empty axis, not a failure
        chart.add("", [None])
    chart.x_labels = [""]
    return chart, height


def units_by_state(counts: dict) -> Chart:
    """Horizontal bars: how many units are in each state (the states with none are left out)."""
    shown = [(state, counts.get(state, 0)) for state in labels.STATES if counts.get(state, 0)]
    chart, height = _one_bar_each(
        [(f"{labels.name(labels.STATES, state)} ({n:,})", n, STATE_COLOURS.get(state, "#555d66"))
         for state, n in shown], value_axis=_ticks(max((n for _s, n in shown), default=0)))
    alt = _("Units by reporting state: %(list)s", list=", ".join(
        f"{labels.name(labels.STATES, s)} {n}" for s, n in shown) or _("none"))
    return Chart(data_uri(svg(chart)), alt, WIDTH, height)


def rates(reporting_rate, on_time_rate) -> Chart:
    """Two bars on a 0-100 % scale: the reporting rate and the on-time rate."""
    values = [(_("Reporting rate"), reporting_rate, "#0b3d6e"), (_("On-time rate"), on_time_rate, "#1e7a34")]
    chart, height = _one_bar_each(
        [(f"{name} {_percent(v) or '–'}", round(float(v or 0) * 100, 1), colour) for name, v, colour in values],
        value_axis=[0, 50, 100], formatter=lambda v: f"{v:.0f} %")
    chart.config.range = (0, 100)
    alt = _("Reporting rate %(reporting)s, on-time rate %(on_time)s",
            reporting=_percent(reporting_rate), on_time=_percent(on_time_rate))
    return Chart(data_uri(svg(chart)), alt, WIDTH, height)


@dataclass(frozen=True)
class Group:
    """One province or kind of unit: how many units, how many submitted, the rate."""

    key: str
    label: str
    expected: int
    submitted: int

    @property
    def rate(self) -> float | None:
        return self.submitted / self.expected if self.expected else None


def groups(rows: list, key: str, name=lambda k: k) -> list[Group]:
    """The rows counted by ``key`` (``province`` or ``kind``), largest first; no value counts as "not given"."""
    tally: dict = {}
    for row in rows:
        k = row.get(key) or ""
        expected, submitted = tally.get(k, (0, 0))
        tally[k] = (expected + 1, submitted + (row.get("state") in SUBMITTED_STATES))
    out = [Group(k, str(name(k)) if k else _("Not given"), e, s) for k, (e, s) in tally.items()]
    return sorted(out, key=lambda g: (-g.expected, g.label))


def submitted_by_group(found: list[Group], title: str) -> Chart:
    """Stacked horizontal bars per group: submitted and not yet submitted."""
    height = 130 + 34 * max(len(found), 1)
    chart = pygal.HorizontalStackedBar(**_config(width=WIDTH, height=min(height, 4000),
                                                 y_labels=_ticks(max((g.expected for g in found), default=0))))
    chart.x_labels = [g.label for g in found]                 # the counts are in the table below
    chart.add(_("Submitted"), [g.submitted for g in found])
    chart.add(_("Not submitted"), [g.expected - g.submitted for g in found])
    parts = [_("%(name)s %(submitted)s of %(expected)s", name=g.label, submitted=g.submitted, expected=g.expected)
             for g in found[:20]]
    alt = _("%(title)s: %(list)s", title=title, list=", ".join(parts))
    if len(found) > 20:
        alt += " " + _("(and %(more)s more, in the table below)", more=len(found) - 20)
    return Chart(data_uri(svg(chart)), alt, WIDTH, min(height, 4000))


def figures(data: dict, rows: list) -> dict:
    """The round's figures (as the tracker's compliance answer gives them) over ``rows`` only: expected is how
    many rows, submitted and on time among them, the rates, and the count per state."""
    counts = dict.fromkeys(labels.STATES, 0)
    submitted = on_time = 0
    for row in rows:
        counts[row["state"]] = counts.get(row["state"], 0) + 1
        submitted += row["state"] in SUBMITTED_STATES
        on_time += bool(row.get("on_time"))
    expected = len(rows)
    rate = (lambda n: round(n / expected, 4) if expected else None)
    return {**data, "expected": expected, "submitted": submitted, "on_time": on_time,
            "reporting_rate": rate(submitted), "on_time_rate": rate(on_time), "counts": counts}


def _ticks(top: int) -> list:
    """Three round values for a count axis from 0 past ``top`` (0, step, 2 steps): few enough to stay legible."""
    import math
    if top <= 0:
        return [0, 1]
    half = top / 2
    magnitude = 10 ** math.floor(math.log10(half)) if half >= 1 else 1
    step = next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= half)
    step = int(step) if float(step).is_integer() else step
    return [0, step, 2 * step]


def _percent(value) -> str:
    return "" if value is None else f"{float(value) * 100:.1f} %"
