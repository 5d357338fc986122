"""``chamberlain.Client`` and ``chamberlain.AsyncClient``: the embedded PDP's methods, over the Cerbos HTTP API.

>>> client = chamberlain.Client("http://127.0.0.1:3592")
>>> client.is_allowed(Principal("alice", roles={"finance"}), Resource("invoice", "inv-1"), "pay")

Failing closed: when the PDP gives no decision (unreachable, timed out after the retries, an error
answer) every action is DENIED, the result's ``reason`` and outputs say why and the reason is
logged (logger ``chamberlain.client``); with ``raise_on_error=True`` a :class:`PDPUnavailable` is
raised instead. A request the PDP refuses as invalid raises :class:`RejectedRequest` (a
``RequestError``, as the embedded PDP raises for bad input).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any

import httpx

from chamberlain.client import wire
from chamberlain.client.context import Acting, current
from chamberlain.client.transport import MAX_RESPONSE_BYTES, Failed, Retry, Retryable, describe, read_answer
from chamberlain.client.wire import NotSupported, PDPUnavailable, RemoteCheckResult
from chamberlain.engine import AuxData, Principal, Resource
from chamberlain.engine.planner import QueryPlan
from chamberlain.engine.request_validation import RequestError

LOGGER = logging.getLogger("chamberlain.client")
CHECK_PATH, PLAN_PATH, HEALTH_PATH = "/api/check/resources", "/api/plan/resources", "/_cerbos/health"
_HEADERS = {"content-type": "application/json", "accept": "application/json"}


class _Base:
    """What the sync and async clients share: building requests, reading answers, failing closed."""

    def __init__(
        self,
        url: str,
        *,
        timeout: float,
        retry: Retry | None,
        raise_on_error: bool,
        headers: Mapping[str, str] | None,
    ) -> None:
        if not url.startswith(("http://", "https://")):
            raise ValueError(f"Client: expected an http:// or https:// URL, got {url!r}")
        self.url = url.rstrip("/")
        self.timeout = timeout
        self.retry = retry or Retry()
        self.raise_on_error = raise_on_error
        self.headers = {**_HEADERS, **(headers or {})}

    def _acting(
        self,
        token: str | None,
        delegation: Mapping[str, Any] | None,
        session_id: str | None,
        approval_id: str | None,
    ) -> Acting:
        """The context's delegation with what the call names itself put over it."""
        acting = current()
        return Acting(
            token=token if token is not None else ("" if delegation is not None else acting.token),
            delegation=delegation
            if delegation is not None
            else (None if token is not None else acting.delegation),
            session_id=session_id if session_id is not None else acting.session_id,
            approval_id=approval_id if approval_id is not None else acting.approval_id,
        )

    def _check_request(
        self,
        principal: Principal,
        resources: Resource | Iterable[Resource],
        actions: Sequence[str],
        aux_data: Any,
        request_id: str,
        options: dict[str, Any],
    ) -> dict[str, Any]:
        if isinstance(resources, Resource):
            resources = [resources]
        if isinstance(actions, str):
            raise RequestError("actions", "expected a list of actions, got a string")
        _check_options(options, _CHECK_OPTIONS)
        acting = self._acting(
            options.get("token"),
            options.get("delegation"),
            options.get("session_id"),
            options.get("approval_id"),
        )
        return wire.check_request(
            principal, resources, actions, aux=wire.aux_json(aux_data, acting), request_id=request_id
        )

    def _plan_request(
        self, principal: Principal, kind: str, action: str | Sequence[str], options: dict[str, Any]
    ) -> tuple[dict[str, Any], tuple[str, ...]]:
        actions = (action,) if isinstance(action, str) else tuple(action)
        if not actions:
            raise RequestError("actions", "expected at least one action")
        _check_options(options, _PLAN_OPTIONS)
        acting = self._acting(
            options.get("token"), options.get("delegation"), options.get("session_id"), None
        )
        request = wire.plan_request(
            principal,
            kind,
            actions,
            resource_attr=options.get("resource_attr") or {},
            aux=wire.aux_json(options.get("aux_data"), acting),
            scope=options.get("scope", ""),
            policy_version=options.get("policy_version", ""),
            request_id=options.get("request_id", ""),
        )
        return request, actions

    def _give_up(self, reason: str) -> None:
        """Log why there is no decision; raise it when the caller asked for exceptions."""
        LOGGER.warning("chamberlain client: denying, no decision: %s", reason)
        if self.raise_on_error:
            raise PDPUnavailable(reason)

    def _after_failure(self, exc: Retryable | Failed, delays: Iterator[float]) -> float | str:
        """The wait before another attempt, or (a ``str``) why there is no answer (logged; raised with
        ``raise_on_error``)."""
        if isinstance(exc, Retryable):
            wait = next(delays, None)
            if wait is not None:
                return wait
        self._give_up(str(exc))
        return str(exc)

    def _checked(self, request: dict[str, Any], answer: dict[str, Any] | str) -> RemoteCheckResult:
        if isinstance(answer, str):
            return wire.denied_result(request, answer)
        try:
            return wire.check_result(answer, request)
        except (ValueError, TypeError, AttributeError, KeyError) as exc:
            reason = f"PDP at {self.url} answered a CheckResources response that cannot be read ({exc})"
            self._give_up(reason)
            return wire.denied_result(request, reason)

    def _planned(
        self, request: dict[str, Any], actions: tuple[str, ...], answer: dict[str, Any] | str
    ) -> QueryPlan:
        kind, request_id = request["resource"]["kind"], request.get("requestId", "")
        if isinstance(answer, str):
            return wire.denied_plan(kind, actions, answer, request_id)
        try:
            return wire.query_plan(answer, actions, kind)
        except (ValueError, TypeError, AttributeError, KeyError) as exc:
            reason = f"PDP at {self.url} answered a PlanResources response that cannot be read ({exc})"
            self._give_up(reason)
            return wire.denied_plan(kind, actions, reason, request_id)

    def _passed_through(self, request: Mapping[str, Any], answer: dict[str, Any] | str) -> dict[str, Any]:
        return wire.denied_response(request, answer) if isinstance(answer, str) else answer


_EMBEDDED_ONLY = frozenset({"now", "actor_chain", "call_id", "point", "annotate"})
_CHECK_OPTIONS = frozenset({"token", "delegation", "session_id", "approval_id"})
_PLAN_OPTIONS = frozenset(
    {
        "token",
        "delegation",
        "session_id",
        "resource_attr",
        "aux_data",
        "scope",
        "policy_version",
        "request_id",
    }
)


def _check_options(options: dict[str, Any], allowed: frozenset[str]) -> None:
    """Refuse what only an embedded PDP can do (set to anything but its default) and names nothing knows."""
    for name, value in options.items():
        if name in _EMBEDDED_ONLY:
            if value:
                raise NotSupported(
                    f"{name}= is decided by the remote PDP itself: it cannot be set from the client"
                    + (
                        " (delegation: pass token= or delegation=, or use acting_for)"
                        if name == "actor_chain"
                        else ""
                    )
                )
        elif name not in allowed:
            raise TypeError(f"unexpected keyword argument {name!r} (accepted: {', '.join(sorted(allowed))})")


class Client(_Base):
    """A remote PDP with the embedded :class:`~chamberlain.PDP`'s methods (thread-safe; reuses connections).

    ``timeout``: seconds per attempt; ``retry``: :class:`Retry` (3 attempts, 50 ms backoff doubling);
    ``raise_on_error``: raise :class:`PDPUnavailable` instead of denying; ``headers``: sent with every
    request (say, ``Authorization``); ``transport``/``verify``: passed to ``httpx.Client``.
    """

    def __init__(
        self,
        url: str,
        *,
        timeout: float = 5.0,
        retry: Retry | None = None,
        raise_on_error: bool = False,
        headers: Mapping[str, str] | None = None,
        verify: Any = True,
        transport: httpx.BaseTransport | None = None,
        max_connections: int = 20,
    ) -> None:
        super().__init__(url, timeout=timeout, retry=retry, raise_on_error=raise_on_error, headers=headers)
        self._http = httpx.Client(
            base_url=self.url,
            timeout=timeout,
            verify=verify,
            transport=transport,
            limits=httpx.Limits(max_connections=max_connections, max_keepalive_connections=max_connections),
        )

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def is_allowed(
        self,
        principal: Principal,
        resource: Resource,
        action: str,
        *,
        aux_data: AuxData | Mapping[str, Any] | None = None,
        **options: Any,
    ) -> bool:
        """Whether ``principal`` may do ``action`` on ``resource``; ``False`` when the PDP cannot be reached."""
        return self.check(principal, resource, [action], aux_data=aux_data, **options).is_allowed(action)

    def check(
        self,
        principal: Principal,
        resources: Resource | Iterable[Resource],
        actions: Sequence[str],
        *,
        aux_data: AuxData | Mapping[str, Any] | None = None,
        request_id: str = "",
        **options: Any,
    ) -> RemoteCheckResult:
        """Decide ``actions`` on each resource. ``options``: ``token``, ``delegation``, ``session_id``,
        ``approval_id`` (over what :func:`acting_for` set)."""
        request = self._check_request(principal, resources, actions, aux_data, request_id, options)
        return self._checked(request, self._post(CHECK_PATH, request))

    def check_resources(self, request: Mapping[str, Any]) -> dict[str, Any]:
        """Cerbos CheckResources: request JSON in, response JSON out (every action DENY, with the reason under
        ``chamberlain.error``, when the PDP cannot answer)."""
        return self._passed_through(request, self._post(CHECK_PATH, request))

    def plan(self, principal: Principal, kind: str, action: str | Sequence[str], **options: Any) -> QueryPlan:
        """Which resources of ``kind`` ``principal`` may ``action`` (ALWAYS_DENIED when the PDP cannot answer).

        ``options``: ``resource_attr``, ``aux_data``, ``scope``, ``policy_version``, ``request_id``,
        ``token``, ``delegation``, ``session_id``.
        """
        request, actions = self._plan_request(principal, kind, action, options)
        return self._planned(request, actions, self._post(PLAN_PATH, request))

    def plan_resources(self, request: Mapping[str, Any]) -> dict[str, Any]:
        """Cerbos PlanResources: request JSON in, response JSON out (raises :class:`PDPUnavailable` when the PDP
        cannot answer: there is no "deny" form of an arbitrary plan response to return instead)."""
        answer = self._post(PLAN_PATH, request)
        if isinstance(answer, str):
            raise PDPUnavailable(answer)
        return answer

    def is_healthy(self) -> bool:
        """Whether the PDP answers its health check with SERVING."""
        try:
            return self._http.get(HEALTH_PATH).status_code == 200
        except httpx.HTTPError:
            return False

    def _post(self, path: str, request: Mapping[str, Any]) -> dict[str, Any] | str:
        """The answer, or why there is none (logged; raised with ``raise_on_error``)."""
        body, delays = wire.encode(request), self.retry.delays()
        while True:
            try:
                return self._attempt(path, body)
            except (Retryable, Failed) as exc:
                outcome = self._after_failure(exc, delays)
            if isinstance(outcome, str):
                return outcome
            time.sleep(outcome)

    def _attempt(self, path: str, body: bytes) -> dict[str, Any]:
        try:
            with self._http.stream("POST", path, content=body, headers=self.headers) as response:
                content = _Bounded(self.url, self.timeout)
                for chunk in response.iter_bytes():
                    if content.add(chunk):
                        break
                return read_answer(response.status_code, content.bytes(), self.url)
        except httpx.HTTPError as exc:
            raise Retryable(describe(exc, self.url)) from None


class AsyncClient(_Base):
    """:class:`Client` for ``asyncio``: the same methods, awaited."""

    def __init__(
        self,
        url: str,
        *,
        timeout: float = 5.0,
        retry: Retry | None = None,
        raise_on_error: bool = False,
        headers: Mapping[str, str] | None = None,
        verify: Any = True,
        transport: httpx.AsyncBaseTransport | None = None,
        max_connections: int = 20,
    ) -> None:
        super().__init__(url, timeout=timeout, retry=retry, raise_on_error=raise_on_error, headers=headers)
        self._http = httpx.AsyncClient(
            base_url=self.url,
            timeout=timeout,
            verify=verify,
            transport=transport,
            limits=httpx.Limits(max_connections=max_connections, max_keepalive_connections=max_connections),
        )

    async def aclose(self) -> None:
        await self._http.aclose()

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def is_allowed(
        self,
        principal: Principal,
        resource: Resource,
        action: str,
        *,
        aux_data: AuxData | Mapping[str, Any] | None = None,
        **options: Any,
    ) -> bool:
        """See :meth:`Client.is_allowed`."""
        result = await self.check(principal, resource, [action], aux_data=aux_data, **options)
        return result.is_allowed(action)

    async def check(
        self,
        principal: Principal,
        resources: Resource | Iterable[Resource],
        actions: Sequence[str],
        *,
        aux_data: AuxData | Mapping[str, Any] | None = None,
        request_id: str = "",
        **options: Any,
    ) -> RemoteCheckResult:
        """See :meth:`Client.check`."""
        request = self._check_request(principal, resources, actions, aux_data, request_id, options)
        return self._checked(request, await self._post(CHECK_PATH, request))

    async def check_resources(self, request: Mapping[str, Any]) -> dict[str, Any]:
        """See :meth:`Client.check_resources`."""
        return self._passed_through(request, await self._post(CHECK_PATH, request))

    async def plan(
        self, principal: Principal, kind: str, action: str | Sequence[str], **options: Any
    ) -> QueryPlan:
        """See :meth:`Client.plan`."""
        request, actions = self._plan_request(principal, kind, action, options)
        return self._planned(request, actions, await self._post(PLAN_PATH, request))

    async def plan_resources(self, request: Mapping[str, Any]) -> dict[str, Any]:
        """See :meth:`Client.plan_resources`."""
        answer = await self._post(PLAN_PATH, request)
        if isinstance(answer, str):
            raise PDPUnavailable(answer)
        return answer

    async def is_healthy(self) -> bool:
        try:
            return (await self._http.get(HEALTH_PATH)).status_code == 200
        except httpx.HTTPError:
            return False

    async def _post(self, path: str, request: Mapping[str, Any]) -> dict[str, Any] | str:
        body, delays = wire.encode(request), self.retry.delays()
        while True:
            try:
                return await self._attempt(path, body)
            except (Retryable, Failed) as exc:
                outcome = self._after_failure(exc, delays)
            if isinstance(outcome, str):
                return outcome
            await asyncio.sleep(outcome)

    async def _attempt(self, path: str, body: bytes) -> dict[str, Any]:
        try:
            async with self._http.stream("POST", path, content=body, headers=self.headers) as response:
                content = _Bounded(self.url, self.timeout)
                async for chunk in response.aiter_bytes():
                    if content.add(chunk):
                        break
                return read_answer(response.status_code, content.bytes(), self.url)
        except httpx.HTTPError as exc:
            raise Retryable(describe(exc, self.url)) from None


class _Bounded:
    """An answer's bytes, read until one byte past :data:`MAX_RESPONSE_BYTES` (then refused as too large), within
    ``timeout`` seconds of its headers: httpx's read timeout starts again with every chunk, so an answer sent a
    byte at a time would otherwise be waited for without end, and decided on however late it came."""

    __slots__ = ("_data", "_deadline", "_timeout", "_url")

    def __init__(self, url: str, timeout: float) -> None:
        self._data = bytearray()
        self._url = url
        self._timeout = timeout
        self._deadline = time.monotonic() + timeout

    def add(self, chunk: bytes) -> bool:
        """Keep ``chunk``; True once there is more than the limit (stop reading). Raises :class:`Retryable`
        past the deadline."""
        if time.monotonic() > self._deadline:
            raise Retryable(
                f"PDP at {self._url} timed out: its answer took more than {self._timeout:g}s to arrive"
            )
        self._data += chunk
        return len(self._data) > MAX_RESPONSE_BYTES

    def bytes(self) -> bytes:
        return bytes(self._data)
