"""Read a policy file from disk: bytes, their sha256, YAML, then ``parse_policy``.

Edge module: the only place that reads policy files and knows YAML. It turns every failure
(a missing file, bytes that are not UTF-8, YAML syntax, a key given twice, an invalid policy)
into one :class:`~worker.core.errors.PolicyError` whose problems carry their line in the file.
It refuses, each in one problem with its place, what could hang or crash the loader: a file
over :data:`MAX_POLICY_BYTES`, YAML anchors and aliases (a recursive alias, or nested ones
that expand to billions of nodes), nesting deeper than :data:`MAX_POLICY_DEPTH`, and a value
its explicit tag cannot hold (``!!int 0x``, an integer of 5,000 digits).
It hands ``parse_policy`` the holiday data of country calendars (the ``holidays`` package,
``worker/edge/holiday_calendars.py``), whose version then becomes part of the policy's hash.
"""

import dataclasses
import hashlib
from os import PathLike
from pathlib import Path
from typing import Protocol

import yaml
from yaml.events import AliasEvent, CollectionStartEvent, Event, NodeEvent
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from worker.core.errors import PolicyError
from worker.core.policy import Policy
from worker.core.policy_calendars import HolidayCatalog
from worker.core.policy_parse import parse_policy
from worker.edge.holiday_calendars import HolidaysPackage

__all__ = ["MAX_POLICY_BYTES", "MAX_POLICY_DEPTH", "load_policy", "policy_digest"]

_FILE = "(file)"

MAX_POLICY_BYTES = 2 * 1024 * 1024
"""The largest policy file read, in bytes.

Why: the reference policies are about 2 KiB; 2 MiB still holds 100,000 listed holidays
(12 to 20 bytes each), and bounds the time PyYAML spends reading (pure Python: about 10 s a MiB
of dates on a loaded 2-core machine).
"""

MAX_POLICY_DEPTH = 16
"""The deepest nesting of mappings and lists read (a policy needs 6).

Why: composing YAML recurses once per level; a file of 10,000 ``[`` would otherwise end in a
RecursionError. 16 leaves room for any policy while staying far below Python's stack limit.
"""


class _Mark(Protocol):
    """Where a YAML event or node starts (PyYAML's pure and libyaml marks both have it)."""

    line: int
    column: int


def _where(mark: _Mark | None) -> str:
    """Return ``line L, column C`` (1-based) of a YAML mark, or ``(file)`` without one."""
    return f"line {mark.line + 1}, column {mark.column + 1}" if mark else _FILE


class _RefusedYamlError(Exception):
    """YAML a policy refuses, at a place: ``where`` is ``line L, column C``."""

    def __init__(self, where: str, message: str) -> None:
        super().__init__(where, message)
        self.where = where
        self.message = message


class _Loader(yaml.SafeLoader):
    """``yaml.SafeLoader`` that refuses anchors, aliases and deep nesting, and never raises bare.

    An impossible date (``2026-02-30``) stays text: PyYAML would raise a bare ValueError
    without a place; as text it reaches the policy validation, which names it with its place.
    Any other value its explicit tag cannot hold is refused at the value.
    """

    _depth = 0  # mappings and lists open around the node being composed

    def compose_node(self, parent: Node | None, index: int) -> Node | None:
        """Compose one node, refusing an anchor, an alias or a collection nested too deep."""
        event: Event = self.peek_event()  # type: ignore[no-untyped-call]  # untyped in the stubs
        if isinstance(event, AliasEvent):
            raise _RefusedYamlError(
                _where(event.start_mark), f"alias *{event.anchor}: {_NO_ALIASES}"
            )
        if isinstance(event, NodeEvent) and event.anchor is not None:
            raise _RefusedYamlError(
                _where(event.start_mark), f"anchor &{event.anchor}: {_NO_ALIASES}"
            )
        if not isinstance(event, CollectionStartEvent):
            return super().compose_node(parent, index)
        if self._depth >= MAX_POLICY_DEPTH:
            raise _RefusedYamlError(
                _where(event.start_mark),
                f"nested deeper than {MAX_POLICY_DEPTH} levels of mappings and lists: "
                "a policy needs 6 at most",
            )
        self._depth += 1
        try:
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1

    def construct_object(self, node: Node, deep: bool = False) -> object:
        """Construct a node's value; a value its explicit tag cannot hold is refused there."""
        try:
            return super().construct_object(node, deep)
        except (ValueError, KeyError, TypeError, OverflowError):
            text = node.value if isinstance(node.value, str) else ""
            shown = repr(text) if len(text) <= 40 else f"{text[:20]!r}... ({len(text)} characters)"
            kind = node.tag.rpartition(":")[2]
            raise _RefusedYamlError(
                _where(node.start_mark), f"invalid YAML: {shown} is not a valid {kind}"
            ) from None

    def construct_lenient_timestamp(self, node: ScalarNode) -> object:
        """Return a date or timestamp, or the scalar's text when it is not a real one."""
        try:
            return self.construct_yaml_timestamp(node)
        except ValueError:
            return self.construct_scalar(node)


_Loader.add_constructor("tag:yaml.org,2002:timestamp", _Loader.construct_lenient_timestamp)

_NO_ALIASES = "YAML anchors and aliases are not allowed in a policy: write the value out in full"


def _place(parent: str, key: object) -> str:
    return f"{parent}.{key}" if parent else str(key)


def _index(node: Node, place: str, lines: dict[str, int], problems: list[tuple[str, str]]) -> None:
    """Record the line of every place under ``node``; report keys given twice in a mapping."""
    if isinstance(node, MappingNode):
        first_line: dict[str, int] = {}
        for key_node, value_node in node.value:
            if not isinstance(key_node, ScalarNode):  # pragma: no cover
                continue  # unreachable: YAML refuses such (unhashable) keys before this walk
            child = _place(place, key_node.value)
            line = key_node.start_mark.line + 1
            if key_node.value in first_line:
                problems.append(
                    (
                        child,
                        f"key {key_node.value!r} is given twice (first on line "
                        f"{first_line[key_node.value]}): YAML would silently keep only this one",
                    )
                )
            first_line.setdefault(key_node.value, line)
            lines[child] = line  # the last one given is the one YAML keeps
            _index(value_node, child, lines, problems)
    elif isinstance(node, SequenceNode):
        for index, item in enumerate(node.value):
            child = _place(place, index)
            lines[child] = item.start_mark.line + 1
            _index(item, child, lines, problems)


def _line_of(place: str, lines: dict[str, int]) -> int | None:
    """Return the line of ``place``, or of its nearest enclosing place that has one."""
    while place:
        if place in lines:
            return lines[place]
        place = place.rpartition(".")[0]
    return None


def _read_yaml(source: str, text: str) -> tuple[object, Node | None]:
    """Return the data and the node tree of a one-document YAML text."""
    try:
        loader = _Loader(text)
    except yaml.reader.ReaderError as error:  # a control character: refused before parsing
        line = text.count("\n", 0, error.position) + 1
        column = error.position - (text.rfind("\n", 0, error.position) + 1) + 1
        where = f"line {line}, column {column}"
        raise PolicyError(
            source, [(where, f"invalid YAML: {error.reason} #x{error.character:04x}")]
        ) from None
    try:
        node = loader.get_single_node()
        data = loader.construct_document(node) if node is not None else None
    except _RefusedYamlError as error:
        raise PolicyError(source, [(error.where, error.message)]) from None
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        where = _where(mark)
        what = error.problem or "syntax error"
        context = f" ({error.context})" if error.context else ""
        raise PolicyError(source, [(where, f"invalid YAML: {what}{context}")]) from None
    except yaml.YAMLError as error:  # pragma: no cover - every YAML error we know is marked
        message = " ".join(str(error).split())
        raise PolicyError(source, [(_FILE, f"invalid YAML: {message}")]) from None
    finally:
        loader.dispose()
    return data, node


def policy_digest(raw: bytes, holiday_data: str = "") -> str:
    """Return a policy's sha256: of the file's bytes, then a NUL and ``holiday_data`` if any.

    A calendar that names a country closes on what the holiday data says; a new release of
    it may add or move a holiday, so the same file under other data is another policy.
    """
    return hashlib.sha256(
        raw + (b"\0" + holiday_data.encode() if holiday_data else b"")
    ).hexdigest()


def load_policy(
    path: str | PathLike[str], *, holiday_catalog: HolidayCatalog | None = None
) -> Policy:
    """Read, validate and return the policy file at ``path``.

    Raise :class:`~worker.core.errors.PolicyError` naming every problem, each with its dotted
    place and ``(line N)``; a file that cannot be read or parsed is one problem with place
    ``(file)`` or ``line L, column C``. Calendars naming a country take their holidays from
    ``holiday_catalog`` (default: the ``holidays`` package). ``Policy.sha256`` is
    :func:`policy_digest` of the file's bytes and ``Policy.holiday_data``.
    """
    source = str(path)
    try:
        with Path(path).open("rb") as file:
            raw = file.read(MAX_POLICY_BYTES + 1)
    except OSError as error:
        reason = error.strerror or str(error)
        raise PolicyError(source, [(_FILE, f"cannot read the file: {reason}")]) from None
    if len(raw) > MAX_POLICY_BYTES:
        raise PolicyError(
            source,
            [(_FILE, f"larger than {MAX_POLICY_BYTES // 1024 // 1024} MiB: not a policy file")],
        )
    digest = policy_digest(raw)
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as error:
        raise PolicyError(
            source, [(_FILE, f"not UTF-8 text (invalid byte at offset {error.start})")]
        ) from None
    data, node = _read_yaml(source, text)
    if node is None:
        raise PolicyError(source, [(_FILE, "the file is empty: see deploy/policies/ for examples")])
    lines: dict[str, int] = {}
    problems: list[tuple[str, str]] = []
    _index(node, "", lines, problems)
    catalog = HolidaysPackage() if holiday_catalog is None else holiday_catalog
    try:
        policy = parse_policy(data, source=source, sha256=digest, holiday_catalog=catalog)
    except PolicyError as error:
        problems.extend(error.problems)
    else:
        if not problems:
            if policy.holiday_data:
                digest = policy_digest(raw, policy.holiday_data)
                policy = dataclasses.replace(policy, sha256=digest)
            return policy
    located = []
    for place, message in problems:
        line = _line_of(place, lines)
        located.append((line or 0, place, message if line is None else f"{message} (line {line})"))
    located.sort(key=lambda item: item[0])
    raise PolicyError(source, [(place, message) for _, place, message in located])
