"""Entry point of ``python -m worker`` and of the ``sla-worker`` console script.

Shell module: it only hands over to the click group in ``worker/cli.py``.
"""

from worker.cli import main

__all__ = ["main"]

if __name__ == "__main__":
    main(prog_name="sla-worker")
