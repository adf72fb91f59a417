"""Policy validation's vocabulary: problems with their places, and the checks shared by sections.

Core module: the standard library and ``worker.core.durations`` and ``worker.core.errors``
only; it must not import YAML, ``os``, the shell or the streaming stack. A problem is a
``(place, message)`` pair, the place dotted (``tiers.enterprise.targets``); the checks here
(a mapping, a list, known keys, a name, a duration) record a problem and return None rather
than raise, so that ``worker/core/policy_parse.py`` and ``worker/core/policy_calendars.py``
report every problem of a file at once.
"""

import difflib
import re
from datetime import date, datetime

from worker.core.durations import parse_duration
from worker.core.errors import DurationError

__all__ = [
    "Problems",
    "at",
    "checked_name",
    "duration_s",
    "kind",
    "list_of",
    "mapping_of",
    "unknown_keys",
]

# Names become Prometheus label values, topic message fields and dotted places in error
# messages: letters, digits, '_' and '-', starting with a letter or digit, at most 63
# characters (a DNS label's limit, so names also fit hostnames and Kubernetes labels).
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,62}")
_NAME_RULE = "letters, digits, '_' and '-', starting with a letter or digit, at most 63 characters"
_PERCENT = re.compile(r"(?:[1-9][0-9]?(?:\.[0-9]+)?|0\.0*[1-9][0-9]*)%")
_WINDOW = re.compile(r"([01][0-9]|2[0-3]):([0-5][0-9])-(?:([01][0-9]|2[0-3]):([0-5][0-9])|24:00)")
_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_DAY_S = 86_400


class Problems:
    """Collects ``(place, message)`` pairs so that every problem is reported at once."""

    def __init__(self) -> None:
        self.items: list[tuple[str, str]] = []

    def add(self, place: str, message: str) -> None:
        """Record that ``message`` applies at ``place``."""
        self.items.append((place, message))

    def count(self) -> int:
        """Return how many problems are recorded so far."""
        return len(self.items)


def at(place: str, key: object) -> str:
    """Return the dotted place of ``key`` (a mapping key or list index) inside ``place``."""
    return f"{place}.{key}" if place else str(key)


def kind(value: object) -> str:
    """Name the YAML kind of ``value`` for messages: 'a list', 'a number', ..."""
    if value is None:
        return "nothing (null)"
    if isinstance(value, bool):
        return f"true/false ({str(value).lower()})"
    if isinstance(value, int | float):
        return f"the number {value}"
    if isinstance(value, str):
        return f"the text {value!r}"
    if isinstance(value, datetime):
        return f"the timestamp {value.isoformat()}"
    if isinstance(value, date):
        return f"the date {value.isoformat()}"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    return f"a {type(value).__name__}"


def mapping_of(value: object, place: str, what: str, out: Problems) -> dict[object, object] | None:
    """Return ``value`` if it is a mapping, else record a problem and return None."""
    if isinstance(value, dict):
        return value
    out.add(place, f"expected a mapping of {what}, got {kind(value)}")
    return None


def list_of(value: object, place: str, what: str, out: Problems) -> list[object] | None:
    """Return ``value`` if it is a list, else record a problem and return None."""
    if isinstance(value, list):
        return value
    out.add(place, f"expected a list of {what}, got {kind(value)}")
    return None


def unknown_keys(
    data: dict[object, object], place: str, allowed: tuple[str, ...], out: Problems
) -> None:
    """Record every key of ``data`` not in ``allowed``, suggesting the closest known one."""
    for key in data:
        if key in allowed:
            continue
        message = f"unknown key {key!r} (expected: {', '.join(allowed)})"
        close = difflib.get_close_matches(str(key), allowed, n=1) if isinstance(key, str) else []
        if close:
            message = (
                f"unknown key {key!r}: did you mean {close[0]!r}? (expected: {', '.join(allowed)})"
            )
        out.add(at(place, key), message)


def checked_name(value: object, place: str, what: str, out: Problems) -> str | None:
    """Return ``value`` if it is a valid name (see ``_NAME``), else record a problem."""
    if not isinstance(value, str):
        out.add(place, f"{what} must be text, got {kind(value)}")
        return None
    if _NAME.fullmatch(value) is None:
        out.add(place, f"invalid {what} {value!r}: use {_NAME_RULE}")
        return None
    return value


def duration_s(value: object, place: str, out: Problems) -> int | None:
    """Return the seconds of a duration text such as ``1h30m``, else record a problem."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        example = f"{value}m" if isinstance(value, int) else "1h30m"
        out.add(place, f"got the number {value}: write a duration with a unit, such as {example!r}")
        return None
    if not isinstance(value, str):
        out.add(place, f"expected a duration such as '4h' or '1h30m', got {kind(value)}")
        return None
    try:
        return parse_duration(value)
    except DurationError as error:
        out.add(place, str(error))
        return None
