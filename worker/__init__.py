"""sla-worker: event-driven SLA monitoring on Kafka with Prometheus-native compliance."""

__all__ = ["__version__"]

__version__ = "0.1.0"
