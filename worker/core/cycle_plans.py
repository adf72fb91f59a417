"""What the tracker derives once and every fold shares: target plans, output keys, output builders.

Core module: standard library and the core modules ``calendars``, ``events``, ``policy`` and
``ticket_state`` only (no asyncio, faust, os, logging, no clock reading). Per tier, priority and
target, a :class:`Plan` says what a target cycle does (its budget, calendar, commitment, and its
warnings already converted to counted time and in firing order); :class:`OutputKeys` are the
keys of one cycle's outputs (``<target>:<cycle>:<what>``); the ``build_*`` functions make outputs
and running targets from their fields by position, the fast way (see :func:`positional`).
Compiled with mypyc with the tracker (``make native``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, fields
from datetime import timedelta
from typing import Final, NamedTuple, TypeVar

from worker.core.calendars import TWENTY_FOUR_SEVEN, Calendar
from worker.core.events import (
    Commitment,
    OutputEvent,
    SlaBreached,
    SlaOutcome,
    SlaWarning,
    TargetFulfilled,
)
from worker.core.policy import Policy, Target
from worker.core.ticket_state import RunningTarget

__all__ = [
    "OutputKeys",
    "Plan",
    "WarningPlan",
    "build_breach",
    "build_fulfilled",
    "build_outcome",
    "build_running",
    "build_warning",
    "make_plan",
    "positional",
]

_Built = TypeVar("_Built", bound=OutputEvent)


class WarningPlan(NamedTuple):
    """A warning threshold as one plan uses it: when it fires and what it reports."""

    text: str
    after: timedelta  # counted time from the start after which it fires
    remaining_s: float  # counted seconds left when it fires


@dataclass(frozen=True, slots=True)
class Plan:
    """What a cycle of one target does under one tier and priority, derived once per tracker.

    ``budget`` is set only when the cycle has a deadline (a target with a commitment);
    ``warnings`` are the thresholds that can fire for it, in firing order (by ``after``:
    counted time is monotonic, so this is also the order of their instants).
    """

    within_s: int | None
    budget: timedelta | None
    target_seconds: int | None
    commitment: Commitment
    calendar: Calendar
    always_open: bool
    pausable: bool
    warnings: tuple[WarningPlan, ...]
    idle: tuple[RunningTarget, RunningTarget]  # running without a deadline: counting, paused


def make_plan(policy: Policy, tier_name: str, priority: str, target: str) -> Plan:
    """Derive the :class:`Plan` of ``target`` for tickets of ``tier_name`` and ``priority``."""
    tier = policy.tiers.get(tier_name)
    spec: Target | None = policy.target_for(tier_name, priority, target)
    within_s = None if spec is None else spec.within_s
    commitment: Commitment = tier.commitment if tier is not None else "none"  # type: ignore[assignment]
    tracked = commitment != "none" and within_s is not None
    warnings: list[WarningPlan] = []
    if tracked and tier is not None and within_s is not None:
        budget = timedelta(seconds=within_s)
        for threshold in tier.warnings:
            after = threshold.fires_after(within_s)
            if after is not None:
                remaining_s = (budget - after).total_seconds()
                warnings.append(WarningPlan(threshold.text, after, remaining_s))
        warnings.sort(key=lambda warning: warning.after)  # stable: ties keep the policy's order
    calendar = TWENTY_FOUR_SEVEN if spec is None else spec.calendar
    return Plan(
        within_s=within_s,
        budget=timedelta(seconds=within_s) if tracked and within_s is not None else None,
        target_seconds=within_s if commitment != "none" else None,
        commitment=commitment,
        calendar=calendar,
        always_open=calendar is TWENTY_FOUR_SEVEN,
        pausable=spec is not None and spec.pausable,
        warnings=tuple(warnings),
        idle=(
            RunningTarget(tier_name, priority, target, None, False),
            RunningTarget(tier_name, priority, target, None, True),
        ),
    )


def positional(cls: type[_Built]) -> Callable[..., _Built]:
    """Return a constructor of the frozen, slotted dataclass ``cls`` taking its fields by position.

    Why: the ``__init__`` that dataclasses generate for a frozen class sets each field by name
    through ``object.__setattr__``; an output has 12 to 15 fields, and building outputs that
    way took a tenth of the tracker's time. Setting the slots through their descriptors does
    the same in half the time. (A plain loop over them: compiled, it is twice as fast as
    ``any(map(call, ...))``; interpreted, 10% slower.) The output classes have no
    ``__post_init__``, and a test checks that both ways build equal outputs.
    """
    setters = tuple(getattr(cls, field.name).__set__ for field in fields(cls))
    new = object.__new__

    def build(*values: object) -> _Built:
        built = new(cls)
        # Not zip(strict=True): compiled, the strict form is a generic call at twice the cost.
        # The callers pass every field, and a test checks the outputs built both ways.
        for setter, value in zip(setters, values):  # noqa: B905
            setter(built, value)
        return built

    return build


# Builds a RunningTarget from a tuple of its fields. Why: a NamedTuple's own constructor is
# a Python function, interpreted even when the tracker is compiled (twice the cost).
build_running: Final[Callable[[type[RunningTarget], tuple[object, ...]], RunningTarget]] = (
    tuple.__new__
)
build_warning: Final = positional(SlaWarning)
build_breach: Final = positional(SlaBreached)
build_outcome: Final = positional(SlaOutcome)
build_fulfilled: Final = positional(TargetFulfilled)


class OutputKeys:
    """The output keys of one target cycle (``<target>:<cycle>:<what>``), built once, shared."""

    __slots__ = ("breached", "fulfilled", "outcome", "stem", "warnings")

    def __init__(self, target: str, number: int) -> None:
        self.stem = f"{target}:{number}"
        self.breached = f"{self.stem}:breached"
        self.outcome = f"{self.stem}:outcome"
        self.fulfilled = f"{self.stem}:fulfilled"
        self.warnings: dict[str, str] = {}

    def warning(self, text: str) -> str:
        """Return the key of the warning ``text`` of this cycle."""
        key = self.warnings.get(text)
        if key is None:
            key = self.warnings[text] = f"{self.stem}:{text}"
        return key
