"""The policy decision point: load and compile a policy directory once, then decide checks.

>>> from chamberlain import PDP, Principal, Resource
>>> pdp = PDP.from_directory("policies/")
>>> pdp.is_allowed(Principal("alice", roles={"finance"}), Resource("invoice", "inv-1"), "pay")
"""

from __future__ import annotations

import datetime as dt
import os
import threading
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from chamberlain.engine import (
    AuxData,
    CheckInput,
    CheckOutput,
    Engine,
    EngineOptions,
    Principal,
    Resource,
    compile_policies,
)
from chamberlain.engine.request import EMPTY_AUX
from chamberlain.engine.wire import JWTVerifier, RequestError, check_resources_response, parse_check_resources
from chamberlain.policy import PolicySet, load_directory

__all__ = ["PDP", "CheckResult", "RequestError"]


class CheckResult:
    """The decisions of one :meth:`PDP.check` call: one :class:`CheckOutput` per resource."""

    __slots__ = ("outputs",)

    def __init__(self, outputs: list[CheckOutput]):
        self.outputs = outputs

    def __iter__(self):
        return iter(self.outputs)

    def __len__(self) -> int:
        return len(self.outputs)

    def __getitem__(self, index: int) -> CheckOutput:
        return self.outputs[index]

    def is_allowed(self, action: str, index: int = 0) -> bool:
        """Whether ``action`` is allowed on the ``index``-th resource."""
        return self.outputs[index].is_allowed(action)

    def explanation(self) -> str:
        return "\n\n".join(f"{o.resource_id}:\n{o.explanation()}" for o in self.outputs)


class PDP:
    """A compiled policy set and the options to decide with; :meth:`reload` swaps in a new one."""

    def __init__(self, policies: PolicySet, options: EngineOptions | None = None, *,
                 directory: str | os.PathLike[str] | None = None, verify_jwt: JWTVerifier | None = None):  # fmt: skip
        self.options = options or EngineOptions()
        self.directory = Path(directory) if directory is not None else None
        self.verify_jwt = verify_jwt
        self._engine: Engine = compile_policies(policies, self.options)
        self._lock = threading.Lock()

    @classmethod
    def from_directory(cls, path: str | os.PathLike[str], *, verify_jwt: JWTVerifier | None = None,
                       **options: Any) -> PDP:  # fmt: skip
        """Load, validate and compile ``path``; raises ``PolicyError`` listing every problem (file:line).

        ``options`` are :class:`~chamberlain.engine.EngineOptions` fields (``default_policy_version``,
        ``default_scope``, ``lenient_scope_search``, ``strict_evaluation``, ``globals``,
        ``schema_enforcement``). ``verify_jwt`` turns ``auxData.jwt.token`` into claims.
        """
        return cls(load_directory(path), EngineOptions(**options), directory=path, verify_jwt=verify_jwt)

    @property
    def engine(self) -> Engine:
        return self._engine

    @property
    def policies(self) -> PolicySet:
        return self._engine.policies

    def reload(self) -> None:
        """Compile the directory again and swap atomically; on error the old set keeps serving."""
        if self.directory is None:
            raise RuntimeError("this PDP was not loaded from a directory")
        with self._lock:
            engine = compile_policies(load_directory(self.directory), self.options)  # raises PolicyError
            self._engine = engine

    # -- decisions --------------------------------------------------------------------------------

    def is_allowed(self, principal: Principal, resource: Resource, action: str, *,
                   aux_data: AuxData | None = None) -> bool:  # fmt: skip
        """Whether ``principal`` may do ``action`` on ``resource``."""
        return (
            self._engine.decide(principal, resource, action, aux_data or EMPTY_AUX).effect == "EFFECT_ALLOW"
        )

    def check(self, principal: Principal, resources: Resource | Iterable[Resource], actions: Sequence[str], *,
              aux_data: AuxData | None = None, request_id: str = "", now: dt.datetime | None = None,
              session_id: str = "", actor_chain: Sequence[str] = (), approval_id: str = "") -> CheckResult:  # fmt: skip
        """Decide ``actions`` on each resource; the result explains every decision."""
        if isinstance(resources, Resource):
            resources = [resources]
        if isinstance(actions, str):
            raise RequestError("actions", "expected a list of actions, got a string")
        aux = aux_data or EMPTY_AUX
        inputs = [
            CheckInput(
                principal, r, tuple(actions), aux, request_id, session_id, tuple(actor_chain), approval_id
            )
            for r in resources
        ]
        return CheckResult(self._engine.check(inputs, now))

    def check_resources(
        self, request: Mapping[str, Any], *, now: dt.datetime | None = None
    ) -> dict[str, Any]:
        """Cerbos CheckResources: request JSON (as a dict) in, response JSON (as a dict) out."""
        inputs, include_meta = parse_check_resources(request, self.verify_jwt)
        outputs = self._engine.check(inputs, now)
        request_id = inputs[0].request_id if inputs else ""
        return check_resources_response(request_id, inputs, outputs, include_meta)
