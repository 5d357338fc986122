"""Where exported records go: JSON Lines (a file or stdout) or an OpenTelemetry collector (OTLP logs).

A sink's :meth:`send` returns once the batch is delivered (written and fsynced; or accepted by the
collector) and raises :class:`ExportError` otherwise; ``retry_after`` says when to try again.

OTLP mapping of a record (one ``LogRecord`` per entry): ``time_unix_nano`` the entry's time,
``severity`` INFO (WARN for a DENY), ``event_name`` ``chamberlain.<kind>``, ``body`` the record as a
JSON string, attributes ``chamberlain.log.index`` (int), ``chamberlain.log.leaf_hash``,
``chamberlain.log.origin``, ``chamberlain.entry.kind``, ``chamberlain.call_id``,
``chamberlain.enforcement_point``, ``chamberlain.decision.action``, ``chamberlain.decision.effect``,
``chamberlain.decision.policy``, ``chamberlain.decision.rule``, ``chamberlain.principal.id``,
``chamberlain.resource.kind``, ``chamberlain.resource.id``, ``chamberlain.session.id`` (those the entry
has); the resource has ``service.name`` = ``chamberlain``.
"""

from __future__ import annotations

import datetime as dt
import os
import sys
import time
from pathlib import Path
from typing import Any, BinaryIO

import orjson

from chamberlain.audit.errors import AuditError
from chamberlain.audit.export.records import Record

HTTP_PROTOBUF, HTTP_JSON, GRPC = "http/protobuf", "http/json", "grpc"
PROTOCOLS = (HTTP_PROTOBUF, HTTP_JSON, GRPC)
_RETRYABLE = {429, 502, 503, 504}
MAX_ANSWER = 1 << 20


class ExportError(AuditError):
    """A batch that was not delivered; ``retry_after``: seconds the receiver asked us to wait (or None)."""

    def __init__(self, message: str, retry_after: float | None = None):
        super().__init__(message)
        self.retry_after = retry_after


class JsonLinesSink:
    """One JSON object per line, to ``path`` (appended, fsynced per batch) or stdout (``-``)."""

    def __init__(self, path: str):
        self.path = path
        self._file: BinaryIO | None = None

    def send(self, records: list[Record]) -> int:
        data = b"".join(orjson.dumps(r.data) + b"\n" for r in records)
        try:
            if self.path == "-":
                sys.stdout.buffer.write(data)
                sys.stdout.buffer.flush()
                return 0
            if self._file is None:
                Path(self.path).parent.mkdir(parents=True, exist_ok=True)
                self._file = open(self.path, "ab")  # noqa: SIM115 - kept open between batches
            self._file.write(data)
            self._file.flush()
            os.fsync(self._file.fileno())
        except OSError as exc:
            self.close()
            raise ExportError(f"cannot write {self.path}: {exc.strerror or exc}") from None
        return 0

    def close(self) -> None:
        if self._file is not None:
            try:
                self._file.close()
            except OSError:
                pass
            self._file = None


class OtlpSink:
    """OTLP logs to a collector: ``http/protobuf`` or ``http/json`` POST to ``endpoint`` (the full URL,
    e.g. ``http://collector:4318/v1/logs``), or ``grpc`` to ``host:port``."""

    def __init__(self, endpoint: str, protocol: str = HTTP_PROTOBUF, headers: dict[str, str] | None = None,
                 timeout: float = 10.0) -> None:  # fmt: skip
        if protocol not in PROTOCOLS:
            raise AuditError(f"OTLP protocol must be one of {', '.join(PROTOCOLS)}, not {protocol!r}")
        self.endpoint, self.protocol, self.headers, self.timeout = (
            endpoint,
            protocol,
            dict(headers or {}),
            timeout,
        )
        self._client: Any = None
        self._channel: Any = None

    def send(self, records: list[Record]) -> int:
        """Deliver ``records``; returns how many the collector rejected (a partial success: not retried)."""
        request = logs_request(records)
        if self.protocol == GRPC:
            return self._grpc(request)
        import httpx
        from google.protobuf import json_format

        if self._client is None:
            self._client = httpx.Client(timeout=self.timeout, follow_redirects=False)
        if self.protocol == HTTP_JSON:
            body = json_format.MessageToJson(request, use_integers_for_enums=True, indent=None).encode()
            kind = "application/json"
        else:
            body, kind = request.SerializeToString(), "application/x-protobuf"
        try:
            response = self._client.post(
                self.endpoint, content=body, headers={**self.headers, "Content-Type": kind}
            )
        except httpx.HTTPError as exc:
            raise ExportError(f"OTLP collector {self.endpoint}: {type(exc).__name__}: {exc}") from None
        if response.status_code != 200:
            retry = _retry_after(response.headers.get("Retry-After"))
            text = response.content[:300].decode("utf-8", "replace").strip()
            what = (
                "retrying"
                if response.status_code in _RETRYABLE
                else "refused (not retryable); retrying anyway"
            )
            raise ExportError(
                f"OTLP collector {self.endpoint} answered {response.status_code} {text!r}: {what}", retry
            )
        return _rejected(response.content[:MAX_ANSWER], response.headers.get("content-type", ""))

    def _grpc(self, request: Any) -> int:
        import grpc
        from opentelemetry.proto.collector.logs.v1 import logs_service_pb2_grpc

        if self._channel is None:
            self._channel = grpc.insecure_channel(self.endpoint)
        stub = logs_service_pb2_grpc.LogsServiceStub(self._channel)
        try:
            answer = stub.Export(request, timeout=self.timeout, metadata=list(self.headers.items()) or None)
        except grpc.RpcError as exc:
            raise ExportError(
                f"OTLP collector {self.endpoint} (gRPC): {exc.code().name}: {exc.details()}"
            ) from None
        return int(answer.partial_success.rejected_log_records)

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None
        if self._channel is not None:
            self._channel.close()
            self._channel = None


def _retry_after(value: str | None) -> float | None:
    if value and value.strip().isdigit():
        return min(float(value), 300.0)
    return None


def _rejected(content: bytes, kind: str) -> int:
    from google.protobuf import json_format
    from google.protobuf.message import DecodeError
    from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceResponse

    answer = ExportLogsServiceResponse()
    try:
        if "json" in kind:
            json_format.Parse(content or b"{}", answer, ignore_unknown_fields=True)
        else:
            answer.ParseFromString(content)
    except (DecodeError, json_format.ParseError):
        return 0  # a 200 is an acceptance; an unreadable body says nothing about rejections
    return int(answer.partial_success.rejected_log_records)


_SEVERITY = {"EFFECT_DENY": (13, "WARN")}
_ATTRIBUTES = (
    ("chamberlain.entry.kind", ("kind",)), ("chamberlain.call_id", ("call_id",)),
    ("chamberlain.enforcement_point", ("point",)), ("chamberlain.decision.action", ("action",)),
    ("chamberlain.decision.effect", ("effect",)), ("chamberlain.decision.policy", ("basis", "policy")),
    ("chamberlain.decision.rule", ("basis", "rule")), ("chamberlain.principal.id", ("principal", "id")),
    ("chamberlain.resource.kind", ("resource", "kind")), ("chamberlain.resource.id", ("resource", "id")),
    ("chamberlain.session.id", ("session_id",)),
)  # fmt: skip


def logs_request(records: list[Record]) -> Any:
    """The ``ExportLogsServiceRequest`` carrying ``records`` (one resource, one scope)."""
    from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
    from opentelemetry.proto.common.v1.common_pb2 import KeyValue

    from chamberlain import __version__

    request = ExportLogsServiceRequest()
    resource_logs = request.resource_logs.add()
    resource_logs.resource.attributes.append(KeyValue(key="service.name"))
    resource_logs.resource.attributes[-1].value.string_value = "chamberlain"
    if records:
        resource_logs.resource.attributes.append(KeyValue(key="chamberlain.log.origin"))
        resource_logs.resource.attributes[-1].value.string_value = str(records[0].data.get("origin", ""))
    scope_logs = resource_logs.scope_logs.add()
    scope_logs.scope.name, scope_logs.scope.version = "chamberlain.audit", __version__
    observed = time.time_ns()
    for r in records:
        d = r.data
        log = scope_logs.log_records.add()
        log.time_unix_nano = _ns(d.get("time"))
        log.observed_time_unix_nano = observed
        log.severity_number, log.severity_text = _SEVERITY.get(d.get("effect", ""), (9, "INFO"))
        log.event_name = f"chamberlain.{d.get('kind', 'entry')}"
        log.body.string_value = orjson.dumps(d).decode()
        _attr(log, "chamberlain.log.index").int_value = r.seq
        _attr(log, "chamberlain.log.leaf_hash").string_value = r.leaf_hash.hex()
        _attr(log, "chamberlain.log.origin").string_value = str(d.get("origin", ""))
        for name, path in _ATTRIBUTES:
            value: Any = d
            for part in path:
                value = value.get(part) if isinstance(value, dict) else None
            if isinstance(value, str) and value:
                _attr(log, name).string_value = value
    return request


def _attr(log: Any, key: str) -> Any:
    kv = log.attributes.add()
    kv.key = key
    return kv.value


def _ns(text: Any) -> int:
    if not isinstance(text, str) or not text:
        return 0
    try:
        head, _, frac = text.rstrip("Z").partition(".")
        base = dt.datetime.fromisoformat(head).replace(tzinfo=dt.UTC)
        return int(base.timestamp()) * 1_000_000_000 + int((frac + "000000000")[:9] or 0)
    except ValueError:
        return 0
