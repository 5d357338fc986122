"""The vault map (who can reach what, sensitive systems first; unused access with proposed reductions)
and the playground (a policy and a request, decided by an isolated in-memory PDP)."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

import orjson
from starlette.requests import Request
from starlette.responses import Response

from chamberlain.analysis.sensitive import sentence
from chamberlain.console.calls import CallFailed
from chamberlain.console.logins import Login
from chamberlain.console.playground import EXAMPLE_POLICY, EXAMPLE_REQUEST, evaluate

if TYPE_CHECKING:
    from chamberlain.console.web import Console

SUBJECTS = 50
_RUNNING = asyncio.Semaphore(2)  # playground evaluations at once


def _sensitive_first(vault: dict[str, Any]) -> list[dict[str, Any]]:
    """The resources, those with a sensitive action first, each with its cells by subject."""
    cells: dict[str, list[dict[str, Any]]] = {}
    for cell in vault.get("cells", []):
        cells.setdefault(cell["resource"], []).append(cell)
    resources = []
    for target in vault.get("resources", []):
        name = target.get("resource") or target.get("kind") or ""
        mine = [c for c in cells.get(name, []) if c.get("access") != "never"]
        resources.append({"name": name, "cells": mine, "sensitive": any(c.get("sensitive") for c in mine)})
    return sorted(resources, key=lambda r: (not r["sensitive"], r["name"]))


async def vault_page(console: Console, request: Request, login: Login) -> Response:
    access = await console.calls.call(login.caller, "analysis_access", query=f"limit={SUBJECTS}".encode())
    usage: dict[str, Any] = {"subjects": []}
    usage_error = ""
    try:
        usage = await console.calls.call(login.caller, "analysis_usage", query=f"limit={SUBJECTS}".encode())
    except CallFailed as exc:
        usage_error = exc.message
    labels = {s.get("id", s.get("label")): s.get("label", "") for s in access.get("subjects", [])}
    return console.render(
        "vault.html",
        login,
        nav="vault",
        vault=access,
        lead=[sentence(e) for e in access.get("sensitive", [])],
        resources=_sensitive_first(access),
        labels=labels,
        usage=usage,
        usage_error=usage_error,
    )


async def playground_page(console: Console, request: Request, login: Login) -> Response:
    await console.calls.authorize(login.caller, "console_playground")
    return console.render(
        "playground.html",
        login,
        nav="playground",
        policy=EXAMPLE_POLICY,
        request_text=EXAMPLE_REQUEST,
        result=None,
        error="",
    )


async def playground_run(console: Console, request: Request, login: Login) -> Response:
    settings = console.settings
    await console.calls.authorize(login.caller, "console_playground")
    fields = await console.form(
        request, login, settings.playground_max_policy_bytes * 3 + 4 * settings.playground_max_request_bytes
    )
    policy, request_text = fields.get("policy", ""), fields.get("request", "")
    result, error = None, ""
    if len(policy.encode()) > settings.playground_max_policy_bytes:
        error = f"policy: at most {settings.playground_max_policy_bytes} bytes (chamberlain.console.playground.maxPolicyBytes)"
    elif len(request_text.encode()) > settings.playground_max_request_bytes:
        error = f"request: at most {settings.playground_max_request_bytes} bytes (chamberlain.console.playground.maxRequestBytes)"
    else:
        async with _RUNNING:
            result, error = await asyncio.to_thread(
                evaluate,
                policy,
                request_text,
                settings.playground_timeout,
                console.state.config.max_json_depth,
            )
    return console.render(
        "playground.html",
        login,
        200 if not error else 400,
        nav="playground",
        policy=policy,
        request_text=request_text,
        error=error,
        result=orjson.dumps(result, option=orjson.OPT_INDENT_2).decode() if result else None,
        decisions=_decisions(result) if result else [],
    )


def _decisions(result: dict[str, Any]) -> list[dict[str, str]]:
    rows = []
    for item in result.get("results", []):
        resource = item.get("resource", {})
        meta = (item.get("meta") or {}).get("actions", {})
        for action, effect in item.get("actions", {}).items():
            rows.append(
                {
                    "resource": f"{resource.get('kind', '')}/{resource.get('id', '')}",
                    "action": action,
                    "effect": effect,
                    "policy": meta.get(action, {}).get("matchedPolicy", ""),
                    "scope": meta.get(action, {}).get("matchedScope", ""),
                }
            )
    return rows


PAGES = [
    ("GET", "/vault", vault_page),
    ("GET", "/playground", playground_page),
    ("POST", "/playground", playground_run),
]
