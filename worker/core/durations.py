"""Parse and print ``1h30m``-style durations.

Core module: standard library only; no I/O, no clock.
A duration is one or more ``<int><unit>`` parts with units ``s m h d`` (``d`` is 24 hours of
counted time), e.g. ``90s``, ``30m``, ``1h30m``, ``5400s``, ``0s``.
"""

import re

from worker.core.errors import DurationError

__all__ = ["format_duration", "parse_duration"]

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
    return sum(int(number) * _UNIT_S[unit] for number, unit in _PART.findall(text))


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
