"""A minimal PNG encoder (8-bit RGB, no interlace) with zlib and struct: matplotlib is not a
dependency, and a bar chart needs only rectangles."""

from __future__ import annotations

import struct
import zlib

RGB = tuple[int, int, int]


class Canvas:
    """An RGB pixel buffer with the few drawing calls a bar chart needs."""

    def __init__(self, width: int, height: int, background: RGB = (255, 255, 255)):
        self.width, self.height = width, height
        self.pixels = bytearray(bytes(background) * (width * height))

    def rect(self, x0: int, y0: int, x1: int, y1: int, color: RGB) -> None:
        """Fill [x0, x1) x [y0, y1), clipped to the canvas."""
        x0, x1 = max(0, x0), min(self.width, x1)
        y0, y1 = max(0, y0), min(self.height, y1)
        if x0 >= x1 or y0 >= y1:
            return
        run = bytes(color) * (x1 - x0)
        for y in range(y0, y1):
            start = (y * self.width + x0) * 3
            self.pixels[start:start + len(run)] = run

    def pixel(self, x: int, y: int) -> RGB:
        i = (y * self.width + x) * 3
        return tuple(self.pixels[i:i + 3])  # type: ignore[return-value]

    def to_png(self) -> bytes:
        row = self.width * 3
        # Each scanline starts with filter type 0 (None).
        raw = b"".join(b"\x00" + bytes(self.pixels[y * row:(y + 1) * row]) for y in range(self.height))
        header = struct.pack(">IIBBBBB", self.width, self.height, 8, 2, 0, 0, 0)
        return b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", header) + _chunk(b"IDAT", zlib.compress(raw, 9)) + \
            _chunk(b"IEND", b"")


def _chunk(tag: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data) & 0xFFFFFFFF)


# 3x5 digits, enough to label the chart's scale without a font library.
_DIGITS = {
    "0": ("111", "101", "101", "101", "111"), "1": ("010", "110", "010", "010", "111"),
    "2": ("111", "001", "111", "100", "111"), "3": ("111", "001", "111", "001", "111"),
    "4": ("101", "101", "111", "001", "001"), "5": ("111", "100", "111", "001", "111"),
    "6": ("111", "100", "111", "101", "111"), "7": ("111", "001", "010", "010", "010"),
    "8": ("111", "101", "111", "101", "111"), "9": ("111", "101", "111", "001", "111"),
    "-": ("000", "000", "111", "000", "000"), " ": ("000", "000", "000", "000", "000"),
}


def text_width(text: str, scale: int = 2) -> int:
    return len(text) * 4 * scale - scale


def draw_number(canvas: Canvas, x: int, y: int, value: int | str, color: RGB, scale: int = 2) -> int:
    """Draw ``value`` (digits, '-' and ' ') with its top-left corner at (x, y); returns the width drawn."""
    cx = x
    for ch in str(value):
        for ry, bits in enumerate(_DIGITS[ch]):
            for rx, bit in enumerate(bits):
                if bit == "1":
                    canvas.rect(cx + rx * scale, y + ry * scale, cx + (rx + 1) * scale, y + (ry + 1) * scale, color)
        cx += 4 * scale
    return cx - x
