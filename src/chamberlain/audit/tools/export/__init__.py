"""Exporting the decision log to SIEM pipelines and OpenTelemetry collectors, at least once.

- :mod:`.records`: an exported record — the entry as ``audit show`` gives it, with ``seq`` (its leaf
  index), ``leaf_hash`` and the log's ``origin``, so a copy can be proven against the log;
- :mod:`.sinks`: JSON Lines to a file or stdout, OTLP logs over HTTP (protobuf or JSON) or gRPC;
- :mod:`.exporter`: a thread per configured exporter that reads the log *behind* the writer (never
  in a check's way), sends batches, and advances its cursor in ``audit_export_cursors`` only once a
  batch is delivered.
"""

from chamberlain.audit.tools.export.exporter import ExportConfig, Exporter

__all__ = ["ExportConfig", "Exporter"]
