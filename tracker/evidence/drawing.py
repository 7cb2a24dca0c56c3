"""The pack's figures, drawn as vectors on a reportlab canvas: the map of the track and fences
(lon/lat projected to a local plane in metres, with a scale bar and a north arrow) and the
sensor timeline (speed; load, body-lift and cover sensors when the terminal has them)."""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime

from reportlab.lib import colors
from reportlab.pdfgen.canvas import Canvas

from tracker.evidence.dossier import Dossier, LonLat, TrackFix

M_PER_DEG_LAT = 110_574.0
M_PER_DEG_LON_EQ = 111_320.0
FENCE_COLOURS = {
    "site": colors.Color(0.2, 0.5, 0.9, alpha=0.25),
    "yard": colors.Color(0.2, 0.7, 0.3, alpha=0.25),
    "zone": colors.Color(0.9, 0.2, 0.2, alpha=0.25),
}
OTHER_FENCE = colors.Color(0.5, 0.5, 0.5, alpha=0.2)


class LocalPlane:
    """An equirectangular plane around a centre: metres east and north (good to a few per mille
    over a city, which is all a figure needs)."""

    def __init__(self, points: Iterable[LonLat]) -> None:
        pts = list(points)
        lons = [p[0] for p in pts] or [0.0]
        lats = [p[1] for p in pts] or [0.0]
        self.lon0 = (min(lons) + max(lons)) / 2
        self.lat0 = (min(lats) + max(lats)) / 2
        self.kx = M_PER_DEG_LON_EQ * math.cos(math.radians(self.lat0))

    def xy(self, lon: float, lat: float) -> tuple[float, float]:
        return (lon - self.lon0) * self.kx, (lat - self.lat0) * M_PER_DEG_LAT


def nice_length(max_m: float) -> float:
    """The largest 1, 2 or 5 x 10^k metres not over ``max_m``."""
    if max_m <= 0:
        return 1.0
    exp = math.floor(math.log10(max_m))
    for step in (5, 2, 1):
        if step * 10**exp <= max_m:
            return float(step * 10**exp)
    return float(10**exp)


def draw_map(c: Canvas, d: Dossier, box: tuple[float, float, float, float], font: str) -> None:
    """The map in ``box`` (x, y, width, height in points)."""
    x0, y0, w, h = box
    track = [(f.lon, f.lat) for f in d.fixes]
    fence_pts = [p for f in d.fences for ring in f.rings for p in ring]
    extra = [d.place] if d.place else []
    plane = LocalPlane(track + fence_pts + extra)
    metres = [plane.xy(*p) for p in track + fence_pts + extra] or [(0.0, 0.0)]
    span_x = max(m[0] for m in metres) - min(m[0] for m in metres)
    span_y = max(m[1] for m in metres) - min(m[1] for m in metres)
    scale = min((w - 20) / max(span_x, 50.0), (h - 20) / max(span_y, 50.0))  # points per metre
    mid_x = (max(m[0] for m in metres) + min(m[0] for m in metres)) / 2
    mid_y = (max(m[1] for m in metres) + min(m[1] for m in metres)) / 2

    def pt(p: LonLat) -> tuple[float, float]:
        mx, my = plane.xy(*p)
        return x0 + w / 2 + (mx - mid_x) * scale, y0 + h / 2 + (my - mid_y) * scale

    c.saveState()
    c.setStrokeColor(colors.black)
    c.rect(x0, y0, w, h)
    clip = c.beginPath()
    clip.rect(x0, y0, w, h)
    c.clipPath(clip, stroke=0, fill=0)
    for fence in d.fences:
        _fence(c, fence.rings, fence.line, FENCE_COLOURS.get(fence.role, OTHER_FENCE), pt)
    if len(track) > 1:
        c.setStrokeColor(colors.Color(0.1, 0.2, 0.7))
        c.setLineWidth(1.2)
        path = c.beginPath()
        path.moveTo(*pt(track[0]))
        for p in track[1:]:
            path.lineTo(*pt(p))
        c.drawPath(path, stroke=1, fill=0)
    for marks, colour in (
        (track[:1], colors.green),
        (track[-1:], colors.blue),
        (extra, colors.red),
    ):
        for q in marks:
            c.setFillColor(colour)
            c.circle(*pt(q), 3.5, stroke=0, fill=1)
    c.restoreState()
    _scale_bar(c, x0 + 10, y0 + 10, scale, w / 4, font)
    _north_arrow(c, x0 + w - 22, y0 + h - 40, font)


def _fence(
    c: Canvas,
    rings: Sequence[Sequence[LonLat]],
    line: bool,
    fill: colors.Color,
    pt: Callable[[LonLat], tuple[float, float]],
) -> None:
    path = c.beginPath()
    for ring in rings:
        if not ring:
            continue
        path.moveTo(*pt(ring[0]))
        for p in ring[1:]:
            path.lineTo(*pt(p))
        if not line:
            path.close()
    c.setStrokeColor(colors.Color(fill.red, fill.green, fill.blue))
    c.setFillColor(fill)
    c.setLineWidth(4 if line else 0.8)
    c.drawPath(path, stroke=1, fill=0 if line else 1, fillMode=0)


def _scale_bar(c: Canvas, x: float, y: float, scale: float, max_pt: float, font: str) -> None:
    length_m = nice_length(max_pt / scale)
    length_pt = length_m * scale
    c.setFillColor(colors.black)
    c.rect(x, y, length_pt, 3, stroke=1, fill=1)
    label = f"{length_m / 1000:g} km" if length_m >= 1000 else f"{length_m:g} m"
    c.setFont(font, 7)
    c.drawString(x, y + 6, f"比例尺 {label}")


def _north_arrow(c: Canvas, x: float, y: float, font: str) -> None:
    c.setFillColor(colors.black)
    path = c.beginPath()
    path.moveTo(x, y + 24)
    path.lineTo(x - 6, y)
    path.lineTo(x, y + 6)
    path.lineTo(x + 6, y)
    path.close()
    c.drawPath(path, stroke=0, fill=1)
    c.setFont(font, 9)
    c.drawCentredString(x, y + 27, "北 N")


def draw_timeline(
    c: Canvas,
    fixes: Sequence[TrackFix],
    box: tuple[float, float, float, float],
    font: str,
    label_time: Callable[[datetime], str],
) -> None:
    """Speed over time, and a band per sensor the track carries (loaded, lifted, cover)."""
    x0, y0, w, h = box
    sensors = [
        (name, title)
        for name, title in (("loaded", "重载"), ("body_lifted", "举升"), ("cover_closed", "密闭"))
        if any(getattr(f, name) is not None for f in fixes)
    ]
    band_h = 14.0
    chart_h = h - band_h * len(sensors) - 24
    c.setFont(font, 7)
    c.rect(x0, y0 + h - chart_h, w, chart_h)
    if len(fixes) < 2:
        c.drawString(x0 + 4, y0 + h - 12, "轨迹点不足，无法绘制时间线")
        return
    t0, t1 = fixes[0].at, fixes[-1].at
    span_s = max((t1 - t0).total_seconds(), 1.0)
    top = max([f.speed_kmh or 0.0 for f in fixes] + [10.0])

    def tx(at: datetime) -> float:
        return x0 + (at - t0).total_seconds() / span_s * w

    base = y0 + h - chart_h
    c.setStrokeColor(colors.Color(0.1, 0.2, 0.7))
    path = c.beginPath()
    path.moveTo(tx(t0), base + (fixes[0].speed_kmh or 0.0) / top * chart_h)
    for f in fixes[1:]:
        path.lineTo(tx(f.at), base + (f.speed_kmh or 0.0) / top * chart_h)
    c.drawPath(path, stroke=1, fill=0)
    c.setFillColor(colors.black)
    c.drawString(x0 + 2, y0 + h - 9, f"速度 km/h（最高 {top:.0f}）")
    for i, (name, title) in enumerate(sensors):
        by = base - (i + 1) * band_h
        c.setFillColor(colors.black)
        c.drawRightString(x0 - 3, by + 4, title)
        c.setFillColor(colors.Color(0.9, 0.5, 0.1))
        for a, b in itertools.pairwise(fixes):
            if getattr(a, name):
                c.rect(
                    tx(a.at), by + 2, max(tx(b.at) - tx(a.at), 0.3), band_h - 4, stroke=0, fill=1
                )
    c.setFillColor(colors.black)
    c.drawString(x0, y0, label_time(t0))
    c.drawRightString(x0 + w, y0, label_time(t1))
