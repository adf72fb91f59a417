"""The option parsers of the ``sla-worker`` commands: click callbacks and option factories.

Shell module, beside ``worker/cli.py``: each callback reads one option's text into a value
(an instant, a period bound, pauses, a share, a duration, weights) or raises
``click.BadParameter`` naming the problem, which the command line prints as one line with
exit code 2. Imports only click and ``worker.core``, so that ``--help`` stays fast.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, TypeVar

import click

if TYPE_CHECKING:
    from worker.core.calendars import Pause

__all__ = [
    "duration_option",
    "instant",
    "pause_option",
    "period_option",
    "share",
    "share_option",
    "start_option",
    "until_option",
    "weights_option",
]

_Command = TypeVar("_Command", bound=Callable[..., None])


def instant(text: str) -> datetime:
    """Return the UTC instant of an RFC 3339 text; raise ValueError naming the problem."""
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(
            f"{text!r} is not an RFC 3339 timestamp such as 2026-11-23T10:00:00Z"
        ) from None
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{text!r} has no UTC offset: add one, such as 'Z' or '+01:00'")
    return value.astimezone(UTC)


def start_option(ctx: click.Context, param: click.Parameter, value: str) -> datetime:
    """Read a required RFC 3339 instant."""
    try:
        return instant(value)
    except ValueError as error:
        raise click.BadParameter(str(error), ctx, param) from None


def pause_option(ctx: click.Context, param: click.Parameter, values: Sequence[str]) -> list[Pause]:
    """Return the ``--pause FROM/TO`` spans, each checked to end after it starts."""
    pauses: list[Pause] = []
    for text in values:
        parts = text.split("/")
        try:
            if len(parts) != 2:
                raise ValueError(f"{text!r} is not FROM/TO (two RFC 3339 timestamps and a '/')")
            begin, end = instant(parts[0]), instant(parts[1])
        except ValueError as error:
            raise click.BadParameter(str(error), ctx, param) from None
        if end <= begin:
            raise click.BadParameter(f"pause {text!r} ends before it starts", ctx, param)
        pauses.append((begin, end))
    return pauses


def until_option(ctx: click.Context, param: click.Parameter, value: str | None) -> datetime | None:
    """Read an optional RFC 3339 instant, or 'now'."""
    if value is None:
        return None
    if value == "now":
        return datetime.now(UTC)
    try:
        return instant(value)
    except ValueError as error:
        raise click.BadParameter(str(error), ctx, param) from None


def period_option(ctx: click.Context, param: click.Parameter, value: str | None) -> datetime | None:
    """Read a date (its midnight in UTC), an RFC 3339 instant, or 'now'."""
    if value is not None and len(value) == 10:
        try:
            return datetime.fromisoformat(value).replace(tzinfo=UTC)
        except ValueError:
            raise click.BadParameter(
                f"{value!r} is not a date such as 2026-11-01", ctx, param
            ) from None
    return until_option(ctx, param, value)


def share(ctx: click.Context, param: click.Parameter, value: str) -> float:
    """Read a share as ``20%`` or ``0.2``."""
    text = value.strip()
    try:
        fraction = float(text[:-1]) / 100 if text.endswith("%") else float(text)
    except ValueError:
        raise click.BadParameter(
            f"{value!r} is not a share such as 20% or 0.2", ctx, param
        ) from None
    if not 0.0 <= fraction <= 1.0:
        raise click.BadParameter(f"{value!r} is not between 0% and 100%", ctx, param)
    return fraction


def share_option(name: str, default: str, text: str) -> Callable[[_Command], _Command]:
    """Return a ``--NAME SHARE`` option of ``loadgen``, read by :func:`share`."""
    return click.option(
        name, metavar="SHARE", default=default, show_default=True, callback=share, help=text
    )


def duration_option(ctx: click.Context, param: click.Parameter, value: str | None) -> int | None:
    """Read an optional duration such as ``30s`` or ``10m``, in seconds."""
    from worker.core.durations import parse_duration
    from worker.core.errors import DurationError

    if value is None:
        return None
    try:
        return parse_duration(value)
    except DurationError as error:
        raise click.BadParameter(str(error), ctx, param) from None


def weights_option(
    ctx: click.Context, param: click.Parameter, value: str | None
) -> dict[str, float] | None:
    """Read ``gold=3,silver=1`` (a missing ``=weight`` is 1)."""
    if value is None:
        return None
    weights: dict[str, float] = {}
    for part in value.split(","):
        name, _, weight = part.strip().partition("=")
        try:
            weights[name.strip()] = float(weight) if weight else 1.0
        except ValueError:
            raise click.BadParameter(
                f"{part!r} is not NAME or NAME=WEIGHT (e.g. gold=3,silver=1)", ctx, param
            ) from None
        if not name.strip() or weights[name.strip()] < 0:
            raise click.BadParameter(
                f"{part!r} is not NAME or NAME=WEIGHT with a weight >= 0", ctx, param
            )
    return weights
