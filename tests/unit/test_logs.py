"""The worker's log lines (worker.edge.logs): ours and the libraries', one format on stderr.

Each case runs in a fresh interpreter: logging's configuration is process-wide, and a
structlog logger keeps the configuration of its first line.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from typing import Any


def run(code: str) -> tuple[str, list[dict[str, Any]]]:
    """Run ``code`` in a fresh interpreter; return its stdout and its stderr's JSON lines."""
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    return done.stdout, [json.loads(line) for line in done.stderr.splitlines()]


def test_a_line_logged_before_configuration_is_json_on_stderr_never_on_stdout() -> None:
    """Before configure_logging, a line is a JSON object on stderr (stdout carries outputs)."""
    stdout, lines = run(
        """
        from worker.edge.logs import get_logger
        get_logger("sla-worker").info("early", n=1)
        """
    )
    assert stdout == ""
    [line] = lines
    assert {k: line[k] for k in ("event", "level", "logger", "n")} == {
        "event": "early",
        "level": "info",
        "logger": "sla-worker",
        "n": 1,
    }
    assert line["timestamp"].endswith("Z")


def test_ours_and_the_libraries_lines_share_one_format_and_the_level_filters_both() -> None:
    """Our lines and a library's have the same keys; below the level neither is written;
    an exception's traceback and a value JSON cannot hold are rendered as text."""
    stdout, lines = run(
        """
        import logging
        from pathlib import Path
        from worker.edge.logs import configure_logging, get_logger
        log = get_logger("sla-worker")
        configure_logging("json", "warning")
        log.info("dropped")
        logging.getLogger("aiokafka").info("dropped too")
        log.warning("ours", ticket_id="T-1", path=Path("/x"))
        logging.getLogger("aiokafka").warning("theirs %d", 7)
        try:
            raise ValueError("bad")
        except ValueError:
            log.exception("failed")
        """
    )
    assert stdout == ""
    ours, theirs, failed = lines
    assert {k: v for k, v in ours.items() if k != "timestamp"} == {
        "event": "ours",
        "level": "warning",
        "logger": "sla-worker",
        "ticket_id": "T-1",
        "path": "PosixPath('/x')",
    }
    assert {k: v for k, v in theirs.items() if k != "timestamp"} == {
        "event": "theirs 7",
        "level": "warning",
        "logger": "aiokafka",
    }
    assert failed["level"] == "error"
    assert failed["exception"].endswith("ValueError: bad")
