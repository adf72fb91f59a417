"""The edges that need no network: bytes <-> events, stored states, metrics, settings.

Import rule (enforced by ``tests/unit/test_layers.py``): modules here may import the
standard library, ``worker.core``, ``worker.edge`` and libraries that do no networking
(msgspec, PyYAML, prometheus_client, structlog); never faust, aiokafka or aiohttp, and
nothing from ``worker.stream`` or the top-level drivers.
"""
