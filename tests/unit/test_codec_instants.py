"""Instants handed to the msgspec encoder as datetimes (worker/edge/codec.py wire_instant)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from worker.edge.codec import format_timestamp, wire_instant

_ENCODER = msgspec.json.Encoder()
_ZONES = st.sampled_from(
    [
        UTC,
        timezone(timedelta(0)),
        timezone(timedelta(hours=5, minutes=30)),
        timezone(-timedelta(hours=8)),
    ]
    + [ZoneInfo(name) for name in ("UTC", "Europe/Berlin", "America/Los_Angeles", "Asia/Kolkata")]
)


@given(
    moment=st.datetimes(
        min_value=datetime(1970, 1, 2),  # noqa: DTZ001 (hypothesis: naive bounds)
        max_value=datetime(9999, 12, 30),  # noqa: DTZ001
        timezones=_ZONES,
    )
)
def test_the_encoder_writes_a_wire_instant_as_format_timestamp_text(moment: datetime) -> None:
    """Any aware instant, in any zone or offset, is written byte for byte as format_timestamp's
    text (RFC 3339 UTC with Z, microseconds only when non-zero)."""
    assert _ENCODER.encode(wire_instant(moment)) == json.dumps(format_timestamp(moment)).encode()


def test_a_naive_datetime_is_refused() -> None:
    """A naive datetime names no instant: refused as format_timestamp refuses it."""
    with pytest.raises(ValueError, match="naive datetime"):
        wire_instant(datetime(2026, 11, 23, 10, 0))  # noqa: DTZ001 (the point)
