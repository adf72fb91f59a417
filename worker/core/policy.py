"""The policy model: tiers, targets, warnings, and ``Policy.target_for(tier, priority, target)``.

Core module: the standard library and the core module ``calendars`` only; it must not import
YAML, ``os``, the shell or the streaming stack, and it does no I/O and never reads the clock. A
:class:`Policy` is frozen and already valid: building one from a policy file (checking every
value, each problem with its place) is the job of ``worker/core/policy_parse.py``
(``parse_policy``); reading the file is the job of ``worker/edge/policy_file.py``; counting time
is the job of ``worker/core/calendars.py``.
"""

import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from fractions import Fraction
from types import MappingProxyType

from worker.core.calendars import Calendar

__all__ = [
    "COMMITMENTS",
    "DAYS",
    "DEFAULT_PAUSABLE",
    "POLICY_VERSION",
    "TARGETS",
    "Policy",
    "Target",
    "Tier",
    "WarningThreshold",
]

POLICY_VERSION = 1
COMMITMENTS = ("sla", "slo", "none")
TARGETS = ("first_response", "resolution")
DEFAULT_PAUSABLE: Mapping[str, bool] = MappingProxyType(
    {"first_response": False, "resolution": True}
)
DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


@dataclass(frozen=True, slots=True)
class WarningThreshold:
    """An impending-breach warning: ``"75%"`` of the budget used, or ``"15m"`` remaining.

    ``text`` is the threshold as written in the policy (it names the warning in output events
    and metrics); exactly one of ``ratio`` (0 < ratio < 1) and ``remaining_s`` (> 0) is set.
    """

    text: str
    ratio: float | None
    remaining_s: int | None

    def fires_after(self, within_s: int) -> timedelta | None:
        """Return the counted time after which this warning fires for a ``within_s`` budget.

        A ratio fires once ``ratio * budget`` is used (computed exactly from the text and
        rounded up to the microsecond); a remaining threshold fires at ``budget - remaining``.
        Return None when it cannot fire meaningfully: a zero budget, or a remaining threshold
        that is not smaller than the budget (it would fire at the very start).
        """
        if within_s <= 0:
            return None
        if self.ratio is not None:
            used_us = Fraction(self.text.removesuffix("%")) / 100 * within_s * 1_000_000
            return timedelta(microseconds=math.ceil(used_us))
        if self.remaining_s is None or self.remaining_s >= within_s:
            return None
        return timedelta(seconds=within_s - self.remaining_s)


@dataclass(frozen=True, slots=True)
class Target:
    """One target of one tier and priority: ``within_s`` of counted time on ``calendar``.

    ``within_s`` is None when the target is measured without a deadline (commitment
    ``none``, or no target configured for that priority). ``pausable`` targets stop
    counting while the ticket is paused (waiting on the customer).
    """

    name: str
    within_s: int | None
    calendar: Calendar
    pausable: bool


@dataclass(frozen=True, slots=True)
class Tier:
    """A support tier: its commitment, objective, default calendar, targets and warnings.

    ``targets`` maps each target name in :data:`TARGETS` to ``{priority: Target}`` for the
    priorities that have one (possibly none). ``objective`` is None and ``warnings`` empty
    for ``commitment: none``; otherwise ``warnings`` is the tier's own list or the policy's.
    """

    name: str
    commitment: str
    objective: float | None
    calendar: Calendar
    targets: Mapping[str, Mapping[str, Target]]
    warnings: tuple[WarningThreshold, ...]


@dataclass(frozen=True, slots=True)
class Policy:
    """A validated policy file (docs/policy.md).

    ``calendars`` holds the built-in ``24x7`` and every calendar the file defines, by name;
    ``sha256`` identifies the policy (empty when not read from a file): the hex digest of the
    file's bytes, followed, when ``holiday_data`` is set, by a NUL byte and its text.
    ``holiday_data`` names the holiday data country calendars use (``holidays 0.109``), and is
    empty when no calendar names a country.
    """

    version: int
    name: str
    priorities: tuple[str, ...]
    calendars: Mapping[str, Calendar]
    warnings: tuple[WarningThreshold, ...]
    tiers: Mapping[str, Tier]
    sha256: str
    holiday_data: str = ""

    def target_for(self, tier: str, priority: str, target: str) -> Target | None:
        """Return the target a ticket of ``tier`` and ``priority`` has for ``target``.

        Return None for an unknown tier, priority or target name (such events are
        dead-lettered). A known tier without a target for that priority, or with
        ``commitment: none``, gets a measured target without a deadline (``within_s`` None)
        on the tier's calendar, with the target's default ``pausable``.
        """
        found = self.tiers.get(tier)
        if found is None or priority not in self.priorities or target not in TARGETS:
            return None
        configured = found.targets[target].get(priority)
        if configured is not None:
            return configured
        return Target(target, None, found.calendar, DEFAULT_PAUSABLE[target])
