"""Parse and print ``1h30m``-style durations.

Core module: standard library only; no I/O, no clock.
A duration is one or more ``<int><unit>`` parts with units ``s m h d`` (``d`` is 24 hours of
counted time), e.g. ``90s``, ``30m``, ``1h30m``, ``5400s``, ``0s``; at most 3,650 days (``3650d``).
"""

import re

from worker.core.errors import DurationError

__all__ = ["MAX_DURATION_S", "format_duration", "parse_duration"]

# Ten years: far above any SLA target, retention or grace, and it keeps every deadline the
# core computes (a start plus counted time, through a calendar) far inside ``datetime``'s
# range, where a target like ``99999999999999999999d`` would overflow in the tracker.
MAX_DURATION_S = 3_650 * 86_400

_UNIT_S = {"d": 86_400, "h": 3_600, "m": 60, "s": 1}
_PART = re.compile(r"(\d+)([dhms])")
_WHOLE = re.compile(r"(?:\d+[dhms])+")


def parse_duration(text: str) -> int:
    """Return the number of seconds ``text`` denotes; raise DurationError if it is not one."""
    if not isinstance(text, str) or _WHOLE.fullmatch(text) is None:
        raise DurationError(
            f"invalid duration {text!r}: expected <int><unit> parts with units s, m, h, d "
            "such as '90s', '30m' or '1h30m'"
        )
    # Each part is bounded before it is multiplied: a 10,000-digit number is refused by its
    # length, not after Python has built the product.
    total = 0
    for number, unit in _PART.findall(text):
        if len(number) > 12:
            total = MAX_DURATION_S + 1
            break
        total += int(number) * _UNIT_S[unit]
    if total > MAX_DURATION_S:
        raise DurationError(f"duration {_shown(text)} is too long: at most 3650d (ten years)")
    return total


def _shown(text: str) -> str:
    return repr(text if len(text) <= 40 else text[:40] + "...")


def format_duration(seconds: int) -> str:
    """Return the shortest ``1d2h3m4s``-style text for a whole number of seconds (``0s`` for 0)."""
    if seconds < 0:
        raise DurationError(f"invalid duration {seconds}: must not be negative")
    parts = []
    rest = seconds
    for unit, size in _UNIT_S.items():
        count, rest = divmod(rest, size)
        if count:
            parts.append(f"{count}{unit}")
    return "".join(parts) or "0s"
