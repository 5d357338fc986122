"""The decision log through Cerbos's ``CerbosAdminService.ListAuditLogEntries``, so ``cerbosctl audit`` reads it.

Served with the admin surface (``server.adminAPI.enabled``) and authorized exactly as
``GET /api/audit/entries``: Basic (``server.adminAPI.adminCredentials``) or Bearer credentials in the
``authorization`` metadata, ``audit:read`` on ``chamberlain:audit`` by the admin policies, the call itself
recorded. chamberlain records one entry per decided action; Cerbos one per call: the entries of a call
are grouped into one ``DecisionLogEntry`` (``checkResources`` inputs and outputs, the enforcement point
in ``metadata["chamberlain-point"]``). Bounded: every listing reads at most ``chamberlain.admin.maxPageSize``
entries (``tail``: the last calls among the latest entries; ``since``, ``between``: the earliest).
``--kind=access`` (chamberlain keeps no access log) and ``lookup`` are refused with a message.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import AsyncIterator
from typing import Any

import grpc
from google.protobuf import json_format

from chamberlain.audit.storage.reader import Filter
from chamberlain.server import audit_api
from chamberlain.server.admin.dispatch import AdminSurface
from chamberlain.server.grpc.cerbos_service import status_code
from chamberlain.server.grpc.stubs import request_pb2, response_pb2
from chamberlain.server.http import ApiError, bad_request, new_call_id
from chamberlain.server.state import ServerState

SERVICE = "cerbos.svc.v1.CerbosAdminService"
MAX_TAIL = 1000
ENTRIES_PER_CALL = 100
_ROUTE = audit_api.ROUTES[0]  # GET /api/audit/entries: the same action, resource and policy
_Kind = request_pb2.ListAuditLogEntriesRequest


class AdminAuditService:
    """``ListAuditLogEntries`` (server streaming); takes and yields serialized messages."""

    def __init__(self, state: ServerState, admin: AdminSurface):
        self.state = state
        self.admin = admin

    def handlers(self) -> grpc.GenericRpcHandler:
        return grpc.method_handlers_generic_handler(
            SERVICE, {"ListAuditLogEntries": grpc.unary_stream_rpc_method_handler(self.list_entries)}
        )

    async def list_entries(self, data: bytes, context: grpc.aio.ServicerContext) -> AsyncIterator[bytes]:
        call_id = new_call_id()
        try:
            request = _Kind.FromString(data)
            await self._authorize(context, call_id)
            audit_api._enabled(self.state)
            found = await asyncio.to_thread(self._read, request)
        except ApiError as exc:
            await context.abort(status_code(exc.code), exc.message)
        except Exception as exc:  # DecodeError: as grpc-go words it
            await context.abort(grpc.StatusCode.INTERNAL, f"grpc: error unmarshalling request: {exc}")
        for entry in decision_entries(found):
            reply = response_pb2.ListAuditLogEntriesResponse(decision_log_entry=entry)
            yield reply.SerializeToString()

    async def _authorize(self, context: grpc.aio.ServicerContext, call_id: str) -> None:
        if self.admin.policies is None:
            raise ApiError(404, 12, "the admin API is disabled (server.adminAPI.enabled)")  # UNIMPLEMENTED
        headers: dict[str, str] = {}
        for key, value in context.invocation_metadata() or ():
            if key == "authorization" and key in headers:
                raise ApiError(401, 16, "two authorization metadata values")
            headers[key] = value if isinstance(value, str) else value.decode("latin-1")
        peer = context.peer() or "unknown"  # "ipv4:127.0.0.1:50000": failed logins count per address
        caller = await self.admin.authenticate(headers, {"client": (peer.rpartition(":")[0] or peer, 0)})
        await self.admin.policies.authorize(caller, _ROUTE, {}, call_id)

    def _read(self, request: Any) -> list[dict[str, Any]]:
        if request.kind != _Kind.KIND_DECISION:
            raise bad_request("chamberlain keeps a decision log only: use --kind=decision")
        log = self.state.log
        assert log is not None
        limit = self.state.config.admin.max_page_size
        which = request.WhichOneof("filter")
        if which == "tail":
            if not 1 <= request.tail <= MAX_TAIL:
                raise bad_request(f"tail must be between 1 and {MAX_TAIL}")

            def tail(reader: Any) -> list[dict[str, Any]]:
                window = min(reader.tree_size(), request.tail * ENTRIES_PER_CALL, limit)
                found = reader.search(
                    Filter(kind="decision", after=reader.tree_size() - 1 - window, limit=window)
                )
                keep = list(dict.fromkeys(e["call_id"] for e in found))[-request.tail :]
                return [e for e in found if e["call_id"] in set(keep)]

            return log.read(tail)  # type: ignore[no-any-return]
        if which == "since":
            start = dt.datetime.now(dt.UTC) - request.since.ToTimedelta()
            f = Filter(kind="decision", since=_rfc3339(start), limit=limit)
        elif which == "between":
            f = Filter(
                kind="decision",
                since=_rfc3339(request.between.start.ToDatetime(dt.UTC)),
                until=_rfc3339(request.between.end.ToDatetime(dt.UTC)),
                limit=limit,
            )
        else:
            raise ApiError(501, 12, "lookup by call id is not served: use --tail, --since or --between")
        return log.read(lambda reader: reader.search(f))  # type: ignore[no-any-return]


def _rfc3339(when: dt.datetime) -> str:
    return when.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def decision_entries(entries: list[dict[str, Any]]) -> list[Any]:
    """chamberlain's entries (one per action) as Cerbos's ``DecisionLogEntry`` messages (one per call)."""
    from cerbos.audit.v1 import audit_pb2

    calls: dict[str, list[dict[str, Any]]] = {}
    for entry in entries:
        calls.setdefault(entry["call_id"], []).append(entry)
    out = []
    for call_id, group in calls.items():
        inputs: dict[tuple[str, ...], dict[str, Any]] = {}
        outputs: dict[tuple[str, ...], dict[str, Any]] = {}
        for e in group:
            resource, principal, basis = (
                e.get("resource") or {},
                e.get("principal") or {},
                e.get("basis") or {},
            )
            key = (
                resource.get("kind", ""),
                resource.get("id", ""),
                resource.get("scope", ""),
                e.get("request_id", ""),
            )
            inputs.setdefault(
                key,
                {
                    "requestId": e.get("request_id", ""),
                    "actions": [],
                    "resource": _party(resource, kind=resource.get("kind", "")),
                    "principal": _party(principal, roles=principal.get("roles", [])),
                },
            )["actions"].append(e["action"])
            outputs.setdefault(
                key,
                {
                    "requestId": e.get("request_id", ""),
                    "resourceId": resource.get("id", ""),
                    "actions": {},
                    "effectiveDerivedRoles": basis.get("derived_roles", []),
                },
            )["actions"][e["action"]] = {
                "effect": e.get("effect", "EFFECT_DENY"),
                "policy": basis.get("policy", ""),
                "scope": basis.get("scope", ""),
            }
        data = {
            "callId": call_id,
            "timestamp": group[0]["time"],
            "checkResources": {"inputs": list(inputs.values()), "outputs": list(outputs.values())},
            "metadata": {"chamberlain-point": {"values": [group[0].get("point", "")]}},
        }
        message = audit_pb2.DecisionLogEntry()
        try:
            json_format.ParseDict(data, message, ignore_unknown_fields=True)
        except json_format.ParseError as exc:  # erased or unexpected content: the call is still listed
            message = audit_pb2.DecisionLogEntry(call_id=call_id, error=f"entry not representable: {exc}")
        out.append(message)
    return out


def _party(found: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {
        "id": found.get("id", ""),
        "policyVersion": found.get("policy_version", ""),
        "scope": found.get("scope", ""),
        "attr": found.get("attr") or {},
        **extra,
    }
