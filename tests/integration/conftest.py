"""Every test under ``tests/integration/`` is marked ``integration``: ``-m "not integration"``
leaves them all out, those that need Prometheus's tools rather than the broker included.

A hook rather than a ``pytestmark`` line in each file: a new file here is marked too.
"""

from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent


@pytest.hookimpl(tryfirst=True)  # before pytest's own hook deselects by marker (-m)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark the items collected from this folder ``integration``."""
    for item in items:
        if item.path.is_relative_to(HERE):
            item.add_marker(pytest.mark.integration)
