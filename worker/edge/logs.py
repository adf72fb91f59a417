"""Structured logging for us and our libraries, as JSON lines or console text on stderr.

structlog renders our lines; the standard library's (faust, aiokafka) go through the same
processors, so one deployment has one log format.
"""

from __future__ import annotations

import logging
import sys
from typing import Final

import structlog

__all__ = ["configure_logging", "get_logger"]

# Libraries that are chatty at INFO about things an operator does not act on.
_QUIET: Final = {"aiokafka": logging.WARNING, "faust": logging.WARNING, "mode": logging.WARNING}


def configure_logging(fmt: str = "json", level: str = "info") -> None:
    """Send every log line (ours and the libraries') to stderr as JSON or console text."""
    numeric = logging.getLevelName(level.upper())
    shared: list[structlog.types.Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    renderer: structlog.types.Processor = (
        structlog.processors.JSONRenderer()
        if fmt == "json"
        else structlog.dev.ConsoleRenderer(colors=sys.stderr.isatty())
    )
    structlog.configure(
        processors=[
            *shared,
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=shared,
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


def get_logger(name: str) -> structlog.stdlib.BoundLogger:
    """Return a structured logger; bind ``ticket_id`` on lines about a ticket."""
    logger: structlog.stdlib.BoundLogger = structlog.get_logger(name)
    return logger
