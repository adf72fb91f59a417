"""The pure SLA core: counted time, policies, events, the per-ticket state machine.

Import rule (enforced by ``tests/unit/test_layers.py``): modules here import only the
standard library and ``worker.core``. No I/O, no clock reads (time is an argument), no
``os``, ``asyncio``, ``logging`` or third-party library.
"""
