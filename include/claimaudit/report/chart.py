"""The digest's trend chart: stacked error/warning bars for the last audited days, as a PNG.

Slots run oldest (left) to newest (right); the audited day's slot has a tinted background; a
dark square under a bar marks a day with rejected files. The HTML around it names the dates.
"""

from __future__ import annotations

from datetime import date

from claimaudit.report.png import Canvas, draw_number
from claimaudit.store.findings import TREND_DAYS, TrendPoint

WIDTH, HEIGHT = 600, 150
LEFT, RIGHT, TOP, BOTTOM = 34, 8, 10, 22  # margins: the scale label sits on the left
ERROR_RGB = (192, 57, 43)
WARNING_RGB = (230, 159, 0)
REJECT_RGB = (40, 40, 40)
GRID_RGB = (225, 225, 225)
AXIS_RGB = (120, 120, 120)
TODAY_RGB = (232, 240, 254)


def slot_bounds(index: int, slots: int = TREND_DAYS) -> tuple[int, int]:
    """Pixel columns [x0, x1) of bar ``index`` (0 = oldest slot)."""
    width = (WIDTH - LEFT - RIGHT) / slots
    x0 = LEFT + int(index * width)
    return x0 + 2, LEFT + int((index + 1) * width) - 2


def trend_png(points: list[TrendPoint], audit_date: date) -> bytes:
    canvas = Canvas(WIDTH, HEIGHT)
    plot_bottom = HEIGHT - BOTTOM
    points = points[-TREND_DAYS:]
    top_value = max([p.errors + p.warnings for p in points] + [1])
    scale = (plot_bottom - TOP) / top_value
    for frac in (0.5, 1.0):  # gridlines at half and full scale
        y = plot_bottom - int(top_value * frac * scale)
        canvas.rect(LEFT, y, WIDTH - RIGHT, y + 1, GRID_RGB)
    draw_number(canvas, 4, TOP - 4 if TOP >= 4 else 0, top_value, AXIS_RGB)
    draw_number(canvas, 4, plot_bottom - 10, 0, AXIS_RGB)
    offset = TREND_DAYS - len(points)  # newest day always in the rightmost slot
    for i, p in enumerate(points):
        x0, x1 = slot_bounds(offset + i)
        if p.audit_date == audit_date:
            canvas.rect(x0 - 2, TOP, x1 + 2, plot_bottom, TODAY_RGB)
        err_h = round(p.errors * scale)
        warn_h = round(p.warnings * scale)
        canvas.rect(x0, plot_bottom - err_h, x1, plot_bottom, ERROR_RGB)
        canvas.rect(x0, plot_bottom - err_h - warn_h, x1, plot_bottom - err_h, WARNING_RGB)
        if p.rejections:
            mid = (x0 + x1) // 2
            canvas.rect(mid - 3, plot_bottom + 6, mid + 3, plot_bottom + 12, REJECT_RGB)
    canvas.rect(LEFT, plot_bottom, WIDTH - RIGHT, plot_bottom + 1, AXIS_RGB)
    return canvas.to_png()
