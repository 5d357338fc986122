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
from chamberlain.audit.tools.export.records import Record

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

    def __init__(
        self,
        endpoint: str,
        protocol: str = HTTP_PROTOBUF,
        headers: dict[str, str] | None = None,
        timeout: float = 10.0,
    ) -> None:
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
        if self.protocol == GRPC:
            return self._grpc(logs_request(records))
        import httpx

        if self._client is None:
            self._client = httpx.Client(timeout=self.timeout, follow_redirects=False)
        if self.protocol == HTTP_JSON:
            body, kind = logs_json(records), "application/json"
        else:
            body, kind = logs_request(records).SerializeToString(), "application/x-protobuf"
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
    ("chamberlain.entry.kind", ("kind",)),
    ("chamberlain.call_id", ("call_id",)),
    ("chamberlain.enforcement_point", ("point",)),
    ("chamberlain.decision.action", ("action",)),
    ("chamberlain.decision.effect", ("effect",)),
    ("chamberlain.decision.policy", ("basis", "policy")),
    ("chamberlain.decision.rule", ("basis", "rule")),
    ("chamberlain.principal.id", ("principal", "id")),
    ("chamberlain.resource.kind", ("resource", "kind")),
    ("chamberlain.resource.id", ("resource", "id")),
    ("chamberlain.session.id", ("session_id",)),
)


def _fields(r: Record) -> tuple[int, tuple[int, str], str, str, list[tuple[str, str | int]]]:
    """What a record's ``LogRecord`` holds: time, severity, event name, body, attributes (see the module docstring)."""
    d = r.data
    attrs: list[tuple[str, str | int]] = [
        ("chamberlain.log.index", r.seq),
        ("chamberlain.log.leaf_hash", r.leaf_hash.hex()),
        ("chamberlain.log.origin", str(d.get("origin", ""))),
    ]
    for name, path in _ATTRIBUTES:
        value: Any = d
        for part in path:
            value = value.get(part) if isinstance(value, dict) else None
        if isinstance(value, str) and value:
            attrs.append((name, value))
    severity = _SEVERITY.get(d.get("effect", ""), (9, "INFO"))
    return (
        _ns(d.get("time")),
        severity,
        f"chamberlain.{d.get('kind', 'entry')}",
        orjson.dumps(d).decode(),
        attrs,
    )


def _resource(records: list[Record]) -> list[tuple[str, str]]:
    out = [("service.name", "chamberlain")]
    if records:
        out.append(("chamberlain.log.origin", str(records[0].data.get("origin", ""))))
    return out


def logs_request(records: list[Record]) -> Any:
    """The ``ExportLogsServiceRequest`` carrying ``records`` (one resource, one scope)."""
    from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest

    from chamberlain import __version__

    request = ExportLogsServiceRequest()
    resource_logs = request.resource_logs.add()
    for key, value in _resource(records):
        kv = resource_logs.resource.attributes.add()
        kv.key, kv.value.string_value = key, value
    scope_logs = resource_logs.scope_logs.add()
    scope_logs.scope.name, scope_logs.scope.version = "chamberlain.audit", __version__
    observed = time.time_ns()
    for r in records:
        when, (number, text), event, body, attrs = _fields(r)
        log = scope_logs.log_records.add()
        log.time_unix_nano, log.observed_time_unix_nano = when, observed
        log.severity_number, log.severity_text, log.event_name = number, text, event
        log.body.string_value = body
        for key, value in attrs:
            kv = log.attributes.add()
            kv.key = key
            if isinstance(value, int):
                kv.value.int_value = value
            else:
                kv.value.string_value = value
    return request


def logs_json(records: list[Record]) -> bytes:
    """The same request in OTLP/JSON (protobuf's JSON mapping: lowerCamelCase names, 64-bit integers as
    strings, enums as numbers), built directly: protobuf's generic JSON printer is 3 to 4 times slower."""
    from chamberlain import __version__

    observed = str(time.time_ns())
    logs = []
    for r in records:
        when, (number, text), event, body, attrs = _fields(r)
        logs.append(
            {
                "timeUnixNano": str(when),
                "observedTimeUnixNano": observed,
                "severityNumber": number,
                "severityText": text,
                "eventName": event,
                "body": {"stringValue": body},
                "attributes": [
                    {"key": k, "value": {"intValue": str(v)} if isinstance(v, int) else {"stringValue": v}}
                    for k, v in attrs
                ],
            }
        )
    resource = [{"key": k, "value": {"stringValue": v}} for k, v in _resource(records)]
    return orjson.dumps(
        {
            "resourceLogs": [
                {
                    "resource": {"attributes": resource},
                    "scopeLogs": [
                        {"scope": {"name": "chamberlain.audit", "version": __version__}, "logRecords": logs}
                    ],
                }
            ]
        }
    )


def _ns(text: Any) -> int:
    if not isinstance(text, str) or not text:
        return 0
    try:
        head, _, frac = text.rstrip("Z").partition(".")
        base = dt.datetime.fromisoformat(head).replace(tzinfo=dt.UTC)
        return int(base.timestamp()) * 1_000_000_000 + int((frac + "000000000")[:9] or 0)
    except ValueError:
        return 0
