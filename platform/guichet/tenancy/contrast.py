"""WCAG 2.1 contrast ratio of two colours (success criterion 1.4.3, AA: 4.5:1 for text)."""

from __future__ import annotations

import re

__all__ = ["AA_NORMAL_TEXT", "InvalidColour", "contrast_ratio", "parse_hex"]

AA_NORMAL_TEXT = 4.5
_HEX = re.compile(r"^#(?:[0-9a-fA-F]{3}|[0-9a-fA-F]{6})$")


class InvalidColour(ValueError):
    """Not a #rgb or #rrggbb colour."""


def parse_hex(colour: str) -> tuple[int, int, int]:
    if not isinstance(colour, str) or not _HEX.match(colour):
        raise InvalidColour(f"{colour!r} is not a colour written #rrggbb")
    digits = colour[1:]
    if len(digits) == 3:
        digits = "".join(c * 2 for c in digits)
    return int(digits[0:2], 16), int(digits[2:4], 16), int(digits[4:6], 16)


def _channel(value: int) -> float:
    c = value / 255
    return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4


def relative_luminance(colour: str) -> float:
    r, g, b = parse_hex(colour)
    return 0.2126 * _channel(r) + 0.7152 * _channel(g) + 0.0722 * _channel(b)


def contrast_ratio(first: str, second: str) -> float:
    """The ratio (1 to 21) between two colours, rounded down to two decimals as checkers do."""
    a, b = relative_luminance(first), relative_luminance(second)
    lighter, darker = max(a, b), min(a, b)
    return int((lighter + 0.05) / (darker + 0.05) * 100) / 100
