"""Structured logging for us and our libraries, as JSON lines or console text on stderr.

structlog renders our lines; the standard library's (faust, aiokafka) go through the same
processors, so one deployment has one log format. Our lines are written by structlog
itself, not through the standard library's logging: a breach's line costs ~11 us rather
than ~60 (a LogRecord, a handler and a formatter per line), and the worker writes one per
breach. JSON lines are encoded by msgspec (compact, keys in the order they were added).
"""

from __future__ import annotations

import logging
import sys
from typing import Any, Final, TextIO

import msgspec
import structlog

__all__ = ["configure_logging", "get_logger"]

# Libraries that are chatty at INFO about things an operator does not act on.
_QUIET: Final = {"aiokafka": logging.WARNING, "faust": logging.WARNING, "mode": logging.WARNING}


def configure_logging(fmt: str = "json", level: str = "info") -> None:
    """Send every log line (ours and the libraries') to stderr as JSON or console text."""
    numeric = logging.getLevelName(level.upper())
    renderer = _configure_structlog(fmt, numeric)
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=_shared(),
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            structlog.processors.format_exc_info,
            renderer,
        ],
    )
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(numeric)
    for name, quiet in _QUIET.items():  # at debug level, the libraries speak too
        logging.getLogger(name).setLevel(numeric if level == "debug" else max(quiet, numeric))


def _shared() -> list[structlog.types.Processor]:
    """Return the processors of every line, ours and the libraries', before rendering."""
    return [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]


def _configure_structlog(fmt: str, level: int) -> structlog.types.Processor:
    """Configure structlog's own loggers (ours) on stderr; return the renderer of the lines."""
    renderer: structlog.types.Processor = (
        structlog.processors.JSONRenderer(serializer=_json)
        if fmt == "json"
        else structlog.dev.ConsoleRenderer(colors=sys.stderr.isatty())
    )
    structlog.configure(
        processors=[*_shared(), structlog.processors.format_exc_info, renderer],
        logger_factory=_NamedLoggerFactory(sys.stderr),
        wrapper_class=structlog.make_filtering_bound_logger(level),
        # A logger is configured by its first line, for good: until configure_logging,
        # the module's own default below applies.
        cache_logger_on_first_use=True,
    )
    return renderer


def get_logger(name: str) -> structlog.typing.FilteringBoundLogger:
    """Return a structured logger; bind ``ticket_id`` on lines about a ticket."""
    logger: structlog.typing.FilteringBoundLogger = structlog.get_logger(name)
    return logger


def _unknown(value: object) -> str:
    """Return what JSON cannot hold as its text, as structlog's own renderer does (repr)."""
    return repr(value)


_ENCODER: Final = msgspec.json.Encoder(enc_hook=_unknown)


def _json(event: dict[str, Any], **_: Any) -> str:
    """Return ``event`` as one line of compact JSON (what structlog's JSONRenderer calls)."""
    return _ENCODER.encode(event).decode()


class _NamedLogger(structlog.WriteLogger):
    """structlog's writer of lines to a file, with the name ``add_logger_name`` reads."""

    def __init__(self, file: TextIO, name: str) -> None:
        super().__init__(file)
        self.name = name


class _NamedLoggerFactory:
    """Make a :class:`_NamedLogger` on ``file`` for each ``structlog.get_logger(name)``."""

    def __init__(self, file: TextIO) -> None:
        self._file = file

    def __call__(self, *args: Any) -> _NamedLogger:
        return _NamedLogger(self._file, str(args[0]) if args else "")


# Until configure_logging runs: JSON lines at info on stderr (structlog's own default would
# be console text on stdout, where `simulate` writes its outputs, and a logger keeps the
# configuration of its first line).
_configure_structlog("json", logging.INFO)
