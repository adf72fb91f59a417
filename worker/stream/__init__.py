"""The streaming shell: the only modules that import faust, aiokafka or aiohttp.

Import rule (enforced by ``tests/unit/test_layers.py``): modules here may import
``worker.core`` and ``worker.edge``, and are the only ones that talk to Kafka or serve
HTTP. The top-level doors (``worker.cli``) and drivers import them, never the reverse.
"""
