"""Validating a parsed policy file into a :class:`~worker.core.policy.Policy`: ``parse_policy``.

Core module: the standard library and the core modules ``calendars``, ``errors``, ``policy``
(the model it builds), ``policy_checks`` and ``policy_calendars`` only; it must not import YAML,
``os``, the shell or the streaming stack, and it does no I/O and never reads the clock.
``parse_policy`` takes the already-parsed policy file (plain dicts, lists, text, numbers and
dates, as a YAML or JSON loader returns them), checks all of it, and either returns a frozen
:class:`Policy` or raises :class:`~worker.core.errors.PolicyError` listing every problem, each
with its dotted place in the file (``tiers.enterprise.targets.first_response.P9``). Reading the
file is the job of ``worker/edge/policy_file.py``; the model itself is
``worker/core/policy.py``; counting time is the job of ``worker/core/calendars.py``.

Rules beyond docs/policy.md, chosen to make typos loud: unknown keys are errors at every level;
names (policy, priorities, calendars, tiers) are letters, digits, ``_`` and ``-``; a day range
runs forward (``fri-mon`` is refused: write ``fri-sun`` and ``mon``); ``objective`` is required
for ``sla``/``slo`` and refused for ``none``, as are a ``none`` tier's ``targets`` and
``warnings``; an ``sla``/``slo`` tier needs at least one target. One mistake is reported once:
what it makes unusable elsewhere is not reported again.

The ``calendars`` section (time zones, weekly windows, holidays) is checked by
``worker/core/policy_calendars.py``; the checks every section shares are in
``worker/core/policy_checks.py``.
"""

import re
from dataclasses import dataclass
from fractions import Fraction
from types import MappingProxyType

from worker.core.calendars import TWENTY_FOUR_SEVEN, BusinessCalendar, Calendar
from worker.core.errors import PolicyError
from worker.core.policy import (
    COMMITMENTS,
    DEFAULT_PAUSABLE,
    POLICY_VERSION,
    TARGETS,
    Policy,
    Target,
    Tier,
    WarningThreshold,
)
from worker.core.policy_calendars import HolidayCatalog, parse_calendars
from worker.core.policy_checks import (
    Problems,
    at,
    checked_name,
    duration_s,
    kind,
    list_of,
    mapping_of,
    unknown_keys,
)

__all__ = ["parse_policy"]

_BUILT_IN_CALENDAR = TWENTY_FOUR_SEVEN.name
_TOP_KEYS = ("version", "name", "priorities", "calendars", "warnings", "tiers")
_TIER_KEYS = ("commitment", "objective", "calendar", "targets", "warnings")
_TARGET_KEYS = ("within", "calendar", "pausable")
_PERCENT = re.compile(r"(?:[1-9][0-9]?(?:\.[0-9]+)?|0\.0*[1-9][0-9]*)%")


def _parse_version(data: dict[object, object], out: Problems) -> int:
    if "version" not in data:
        out.add("version", f"missing: every policy file starts with 'version: {POLICY_VERSION}'")
        return POLICY_VERSION
    version = data["version"]
    if isinstance(version, bool) or version != POLICY_VERSION:
        out.add("version", f"unsupported version {version!r}: this sla-worker reads version 1 only")
    return POLICY_VERSION


def _parse_priorities(data: dict[object, object], out: Problems) -> tuple[str, ...] | None:
    """Return the priorities (each once), or None if any is unusable (checks then skip them)."""
    if "priorities" not in data:
        out.add("priorities", "missing: list every valid priority, most urgent first")
        return None
    items = list_of(data["priorities"], "priorities", "priority names", out)
    if items is None:
        return None
    if not items:
        out.add("priorities", "empty: list every valid priority, most urgent first")
        return None
    usable = True
    names: list[str] = []
    for index, item in enumerate(items):
        place = at("priorities", index)
        name = checked_name(item, place, "priority", out)
        if name is None:
            usable = False
        elif name in names:
            out.add(place, f"priority {name!r} is listed twice")
        else:
            names.append(name)
    return tuple(names) if usable else None


def _parse_warnings(value: object, place: str, out: Problems) -> tuple[WarningThreshold, ...]:
    """Return the thresholds of a ``warnings`` list: ``"75%"`` or a duration like ``"15m"``."""
    items = list_of(value, place, "thresholds such as '75%' or '15m'", out)
    thresholds: list[WarningThreshold] = []
    seen: dict[tuple[Fraction | None, int | None], str] = {}
    for index, item in enumerate(items or []):
        item_place = at(place, index)
        if not isinstance(item, str):
            out.add(item_place, f"expected a threshold such as '75%' or '15m', got {kind(item)}")
            continue
        threshold: WarningThreshold
        key: tuple[Fraction | None, int | None]
        if item.endswith("%"):
            if _PERCENT.fullmatch(item) is None:
                out.add(
                    item_place,
                    f"invalid threshold {item!r}: a share of the budget must be more than 0% "
                    "and less than 100%, such as '75%' or '87.5%'",
                )
                continue
            ratio = Fraction(item.removesuffix("%")) / 100
            threshold = WarningThreshold(item, float(ratio), None)
            key = (ratio, None)
        else:
            remaining_s = duration_s(item, item_place, out)
            if remaining_s is None:
                continue
            if remaining_s == 0:
                out.add(
                    item_place,
                    f"threshold {item!r} would fire at the breach itself: use more than 0s",
                )
                continue
            threshold = WarningThreshold(item, None, remaining_s)
            key = (None, remaining_s)
        if key in seen:
            out.add(item_place, f"threshold {item!r} repeats {seen[key]!r}")
            continue
        seen[key] = item
        thresholds.append(threshold)
    return tuple(thresholds)


@dataclass(slots=True)
class _Context:
    """What tiers refer to: priorities (None if invalid) and calendars."""

    priorities: tuple[str, ...] | None
    calendars: dict[str, Calendar]
    defined_calendars: set[str] | None
    warnings: tuple[WarningThreshold, ...]


def _calendar_ref(value: object, place: str, ctx: _Context, out: Problems) -> Calendar | None:
    """Return the calendar a tier or target names; None (maybe with a problem) otherwise."""
    if not isinstance(value, str):
        out.add(place, f"expected a calendar name, got {kind(value)}")
        return None
    if ctx.defined_calendars is None:
        return ctx.calendars.get(value)  # the calendars section is invalid (reported)
    if value not in ctx.defined_calendars:
        names = ", ".join(
            [*sorted(ctx.defined_calendars - {_BUILT_IN_CALENDAR}), _BUILT_IN_CALENDAR]
        )
        out.add(place, f"unknown calendar {value!r} (defined: {names})")
        return None
    return ctx.calendars.get(value)  # None: the calendar is defined but invalid (reported)


def _parse_target(
    target: str,
    value: object,
    place: str,
    tier_calendar: Calendar | None,
    ctx: _Context,
    out: Problems,
) -> Target | None:
    """Return the target a duration or a ``{within, calendar, pausable}`` mapping gives."""
    if not isinstance(value, dict):
        if isinstance(value, str | int | float) and not isinstance(value, bool):
            within_s = duration_s(value, place, out)
        else:
            out.add(
                place,
                "expected a duration such as '4h' or a mapping {within, calendar, pausable}, "
                f"got {kind(value)}",
            )
            within_s = None
        if within_s is None or tier_calendar is None:
            return None
        return Target(target, within_s, tier_calendar, DEFAULT_PAUSABLE[target])
    before = out.count()
    unknown_keys(value, place, _TARGET_KEYS, out)
    within_s = None
    if "within" in value:
        within_s = duration_s(value["within"], at(place, "within"), out)
    else:
        out.add(at(place, "within"), "missing: the duration of the target, such as '4h'")
    calendar = tier_calendar
    if "calendar" in value:
        calendar = _calendar_ref(value["calendar"], at(place, "calendar"), ctx, out)
    pausable = value.get("pausable", DEFAULT_PAUSABLE[target])
    if not isinstance(pausable, bool):
        out.add(at(place, "pausable"), f"expected true or false, got {kind(pausable)}")
    if (
        out.count() != before
        or within_s is None
        or calendar is None
        or not isinstance(pausable, bool)
    ):
        return None
    return Target(target, within_s, calendar, pausable)


def _parse_targets(
    value: object, place: str, tier_calendar: Calendar | None, ctx: _Context, out: Problems
) -> tuple[dict[str, dict[str, Target]], bool]:
    """Return ``{target: {priority: Target}}`` from a tier's ``targets`` mapping.

    The flag says whether the mapping is well formed yet gives no target at all.
    """
    result: dict[str, dict[str, Target]] = {name: {} for name in TARGETS}
    targets = mapping_of(value, place, f"target names ({', '.join(TARGETS)}) to priorities", out)
    if targets is None:
        return result, False
    given = 0
    well_formed = True
    for target, per_priority in targets.items():
        target_place = at(place, target)
        if not isinstance(target, str) or target not in TARGETS:
            out.add(target_place, f"unknown target {target!r} (targets: {', '.join(TARGETS)})")
            well_formed = False
            continue
        entries = mapping_of(per_priority, target_place, "priorities to durations", out)
        if entries is None:
            well_formed = False
            continue
        given += len(entries)
        for priority, spec in entries.items():
            entry_place = at(target_place, priority)
            if ctx.priorities is not None and priority not in ctx.priorities:
                out.add(
                    entry_place,
                    f"unknown priority {priority!r} (priorities: {', '.join(ctx.priorities)})",
                )
                continue
            parsed = _parse_target(target, spec, entry_place, tier_calendar, ctx, out)
            if parsed is not None:
                result[target][str(priority)] = parsed
    return result, well_formed and given == 0


def _parse_objective(value: object, place: str, out: Problems) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        out.add(place, f"expected a share such as 0.99, got {kind(value)}")
        return None
    if not 0 < value <= 1:
        out.add(place, f"objective {value} must be more than 0 and at most 1, such as 0.99")
        return None
    return float(value)


def _parse_tier(name: str, value: object, place: str, ctx: _Context, out: Problems) -> Tier | None:
    """Return the tier a ``tiers.<name>`` entry defines."""
    spec = mapping_of(value, place, f"tier settings ({', '.join(_TIER_KEYS)})", out)
    if spec is None:
        return None
    before = out.count()
    unknown_keys(spec, place, _TIER_KEYS, out)
    commitment = spec.get("commitment")
    if "commitment" not in spec:
        out.add(at(place, "commitment"), f"missing: choose one of {', '.join(COMMITMENTS)}")
    elif commitment not in COMMITMENTS:
        out.add(
            at(place, "commitment"),
            f"unknown commitment {commitment!r} (choose one of {', '.join(COMMITMENTS)})",
        )
    measured_only = commitment == "none"
    objective: float | None = None
    if "objective" in spec:
        if measured_only:
            out.add(
                at(place, "objective"), "a tier with commitment none has no objective: remove it"
            )
        else:
            objective = _parse_objective(spec["objective"], at(place, "objective"), out)
    elif commitment in ("sla", "slo"):
        out.add(
            at(place, "objective"),
            f"missing: a tier with commitment {commitment} needs the share of targets "
            "that must be met, such as 0.99",
        )
    calendar = _calendar_ref(
        spec.get("calendar", _BUILT_IN_CALENDAR), at(place, "calendar"), ctx, out
    )
    targets: dict[str, dict[str, Target]] = {target: {} for target in TARGETS}
    no_targets = "targets" not in spec
    if "targets" in spec:
        if measured_only:
            out.add(
                at(place, "targets"),
                "a tier with commitment none sets no deadlines: remove its targets "
                "or make it sla or slo",
            )
        else:
            targets, no_targets = _parse_targets(
                spec["targets"], at(place, "targets"), calendar, ctx, out
            )
    warnings = ctx.warnings
    if "warnings" in spec:
        if measured_only:
            out.add(
                at(place, "warnings"), "a tier with commitment none sends no warnings: remove them"
            )
        else:
            warnings = _parse_warnings(spec["warnings"], at(place, "warnings"), out)
    if commitment in ("sla", "slo") and no_targets:
        out.add(
            at(place, "targets"),
            f"missing: a tier with commitment {commitment} needs at least one target, "
            "such as first_response: {P1: 1h}",
        )
    if out.count() != before or calendar is None or not isinstance(commitment, str):
        return None
    return Tier(
        name=name,
        commitment=commitment,
        objective=objective,
        calendar=calendar,
        targets=MappingProxyType(
            {target: MappingProxyType(entries) for target, entries in targets.items()}
        ),
        warnings=() if measured_only else warnings,
    )


def parse_policy(
    data: object,
    *,
    source: str = "<policy>",
    sha256: str = "",
    holiday_catalog: HolidayCatalog | None = None,
) -> Policy:
    """Validate a parsed policy file and return it as a :class:`Policy`.

    ``source`` names the file in the error; ``sha256`` is stored on the policy as given;
    ``holiday_catalog`` answers for calendars that name a country (without one, such a
    calendar is a problem), and its version becomes the policy's ``holiday_data``. Raise
    :class:`~worker.core.errors.PolicyError` listing every problem found, each with its dotted
    place, when anything is wrong: an invalid policy is refused as a whole.
    """
    out = Problems()
    if not isinstance(data, dict):
        out.add(
            "(document)",
            "expected a mapping with version, name, priorities and tiers, got " + kind(data),
        )
        raise PolicyError(source, out.items)
    unknown_keys(data, "", _TOP_KEYS, out)
    version = _parse_version(data, out)
    name = None
    if "name" in data:
        name = checked_name(data["name"], "name", "policy name", out)
    else:
        out.add("name", "missing: the policy's name, shown in metrics and output events")
    priorities = _parse_priorities(data, out)
    calendars, defined = parse_calendars(data, holiday_catalog, out)
    warnings = _parse_warnings(data.get("warnings", []), "warnings", out)
    ctx = _Context(priorities, calendars, defined, warnings)
    tiers: dict[str, Tier] = {}
    specs = None
    if "tiers" in data:
        specs = mapping_of(data["tiers"], "tiers", "tier names to tiers", out)
        if specs == {}:
            out.add("tiers", "empty: define at least one tier")
    else:
        out.add("tiers", "missing: define at least one tier")
    for key, value in (specs or {}).items():
        place = at("tiers", key)
        tier_name = checked_name(key, place, "tier name", out)
        if tier_name is not None:
            tier = _parse_tier(tier_name, value, place, ctx, out)
            if tier is not None:
                tiers[tier_name] = tier
    if out.items or name is None or priorities is None:
        raise PolicyError(source, out.items)
    countries = any(
        isinstance(calendar, BusinessCalendar) and calendar.public_holidays is not None
        for calendar in calendars.values()
    )
    return Policy(
        version=version,
        name=name,
        priorities=priorities,
        calendars=MappingProxyType(calendars),
        warnings=warnings,
        tiers=MappingProxyType(tiers),
        sha256=sha256,
        holiday_data=holiday_catalog.version if countries and holiday_catalog else "",
    )
