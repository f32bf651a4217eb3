"""Observability: health probes and ``/metrics``, the metrics themselves, the logs."""
