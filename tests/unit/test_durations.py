"""Durations: parsing, printing and the ten-year bound."""

import pytest

from worker.core.durations import MAX_DURATION_S, format_duration, parse_duration
from worker.core.errors import DurationError


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("0s", 0),
        ("90s", 90),
        ("30m", 1800),
        ("1h30m", 5400),
        ("1d", 86_400),
        ("3650d", MAX_DURATION_S),
    ],
)
def test_parse(text: str, seconds: int) -> None:
    """Each part counts its unit's seconds; 3650d is the largest duration accepted."""
    assert parse_duration(text) == seconds


@pytest.mark.parametrize(
    "text",
    ["3651d", "3650d1s", "99999999999999999999d", "1" * 10_000 + "s", "87600h1s"],
)
def test_longer_than_ten_years_is_refused(text: str) -> None:
    """A duration over 3650d is refused in one short line, however many digits it has."""
    with pytest.raises(DurationError, match="too long: at most 3650d") as raised:
        parse_duration(text)
    assert len(str(raised.value)) < 120
    assert "\n" not in str(raised.value)


@pytest.mark.parametrize("text", ["", "1", "h", "1x", "-1s", "1.5h", " 1h"])
def test_malformed_is_refused(text: str) -> None:
    """Anything but <int><unit> parts is refused, naming the expected form."""
    with pytest.raises(DurationError, match="expected <int><unit> parts"):
        parse_duration(text)


def test_format_round_trips() -> None:
    """format_duration prints what parse_duration reads back, and refuses negatives."""
    for seconds in (0, 1, 59, 3600, 93_784, MAX_DURATION_S):
        assert parse_duration(format_duration(seconds)) == seconds
    with pytest.raises(DurationError):
        format_duration(-1)
