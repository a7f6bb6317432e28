"""The digest's trend chart: the open backlog (blue area) and the findings first found each day
(amber bars) over the 30 calendar days ending on the audited day, with a date axis, as a PNG.

A PNG because mail clients show images reliably and strip SVG and scripts; it is drawn at twice
the size it is shown on a desktop so its labels stay readable when a phone scales it to its width.
The HTML and the plain text around it carry the same numbers in words.
"""

from __future__ import annotations

from claimaudit.report.png import Canvas, draw_number, text_width
from claimaudit.report.worklist import BacklogPoint

WIDTH, HEIGHT = 1200, 420
LEFT, RIGHT, TOP, BOTTOM = 84, 16, 24, 64
LABEL_SCALE = 5  # 3x5 digits drawn 15x25 px: about 4x7 px on a 390 px phone, 8x13 on a desktop
BACKLOG_RGB = (52, 101, 164)
BACKLOG_FILL_RGB = (214, 226, 243)
NEW_RGB = (230, 159, 0)
GRID_RGB = (228, 228, 228)
AXIS_RGB = (90, 90, 90)
TODAY_RGB = (255, 246, 214)
UNAUDITED_RGB = (200, 200, 200)


def nice_top(value: int) -> int:
    """The scale's top: the first of 1, 2, 2.5, 4, 5, 6, 8 x 10^n at or above ``value`` that is 1 or
    even (so the half-way gridline has a whole label)."""
    decade = 1
    while True:
        for step in (1, 2, 2.5, 4, 5, 6, 8):
            top = step * decade
            if top >= value and top == int(top) and (top == 1 or int(top) % 2 == 0):
                return int(top)
        decade *= 10


def slot_bounds(index: int, slots: int) -> tuple[int, int]:
    """Pixel columns [x0, x1) of day ``index`` (0 = oldest)."""
    width = (WIDTH - LEFT - RIGHT) / slots
    return LEFT + int(index * width), LEFT + int((index + 1) * width)


def trend_png(series: list[BacklogPoint]) -> bytes:
    canvas = Canvas(WIDTH, HEIGHT)
    bottom = HEIGHT - BOTTOM
    slots = max(1, len(series))
    top_value = nice_top(max([p.open for p in series] + [p.new for p in series] + [1]))
    scale = (bottom - TOP) / top_value

    def y_of(value: int) -> int:
        return bottom - round(value * scale)

    if series:  # the audited day (rightmost) on a tinted background
        x0, x1 = slot_bounds(slots - 1, slots)
        canvas.rect(x0, TOP, x1, bottom, TODAY_RGB)
    for frac in (0.5, 1.0):
        value = top_value * frac
        canvas.rect(LEFT, y_of(value), WIDTH - RIGHT, y_of(value) + 2, GRID_RGB)
    for i, p in enumerate(series):
        x0, x1 = slot_bounds(i, slots)
        if p.open:
            canvas.rect(x0, y_of(p.open), x1, bottom, BACKLOG_FILL_RGB)
            canvas.rect(x0, y_of(p.open) - 2, x1, y_of(p.open) + 3, BACKLOG_RGB)  # the backlog line
            if i and series[i - 1].open != p.open:  # the step between two days
                a, b = sorted((y_of(series[i - 1].open), y_of(p.open)))
                canvas.rect(x0 - 2, a - 2, x0 + 3, b + 3, BACKLOG_RGB)
        if p.new:
            pad = (x1 - x0) // 4
            canvas.rect(x0 + pad, y_of(p.new), x1 - pad, bottom, NEW_RGB)
        if not p.audited:  # a day without an audit run: a grey tick under the axis
            canvas.rect(x0 + 4, bottom + 4, x1 - 4, bottom + 8, UNAUDITED_RGB)
    canvas.rect(LEFT, bottom, WIDTH - RIGHT, bottom + 3, AXIS_RGB)
    canvas.rect(LEFT - 3, TOP, LEFT, bottom + 3, AXIS_RGB)
    glyph_h = 5 * LABEL_SCALE
    for value in (0, top_value // 2 if top_value % 2 == 0 else None, top_value):
        if value is None:
            continue
        label = str(value)
        draw_number(canvas, LEFT - 10 - text_width(label, LABEL_SCALE), y_of(value) - glyph_h // 2, label,
                    AXIS_RGB, LABEL_SCALE)
    # Date labels (MM-DD) every 7 days, counted back from the audited day so it is always labelled.
    for i in range(len(series) - 1, -1, -7):
        x0, x1 = slot_bounds(i, slots)
        label = series[i].day.strftime("%m-%d")
        w = text_width(label, LABEL_SCALE)
        x = min(max((x0 + x1) // 2 - w // 2, 0), WIDTH - w)
        canvas.rect((x0 + x1) // 2 - 1, bottom + 3, (x0 + x1) // 2 + 2, bottom + 14, AXIS_RGB)
        draw_number(canvas, x, bottom + 22, label, AXIS_RGB, LABEL_SCALE)
    return canvas.to_png()
