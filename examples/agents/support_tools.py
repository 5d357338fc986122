"""The support agent's tools (plain functions) and the guard every example puts in front of them.

Each example builds the same agent in its framework, with a scripted model by default (no network,
no API key) and a real one when ``OPENAI_API_KEY`` is set, all governed by ``policies/`` beside this
file, every decision recorded in a decision log (``sqlite:///<folder>/decisions.db``).
"""

from __future__ import annotations

import os
from pathlib import Path

from chamberlain import PDP, Principal
from chamberlain.integrations.tools import ToolGuard

POLICIES = Path(__file__).parent / "policies"
AGENT = Principal("support-agent", roles={"support_agent"})

#: What really ran: each tool appends its call (the tests read it).
RAN: list[tuple[str, dict[str, object]]] = []


def lookup_order(order_id: str) -> str:
    """Look up an order's status."""
    RAN.append(("lookup_order", {"order_id": order_id}))
    return f"order {order_id}: delivered, 120.00 EUR"


def refund(order_id: str, amount: float) -> str:
    """Refund part of an order."""
    RAN.append(("refund", {"order_id": order_id, "amount": amount}))
    return f"refunded {amount} on {order_id}"


def delete_customer(customer_id: str) -> str:
    """Delete a customer's account."""
    RAN.append(("delete_customer", {"customer_id": customer_id}))
    return f"deleted {customer_id}"


def open_pdp(log_dir: str | os.PathLike[str]) -> PDP:
    """The embedded PDP over ``policies/``, recording its decisions in ``log_dir``."""
    return PDP.from_directory(POLICIES, audit=f"sqlite:///{Path(log_dir) / 'decisions.db'}")


def guard_for(pdp: object) -> ToolGuard:
    """The support agent's tools on the ``billing`` "server" (a PDP, a Client or an AsyncClient decides)."""
    return ToolGuard(pdp, AGENT, server="billing")


def real_model_wanted() -> bool:
    return bool(os.environ.get("OPENAI_API_KEY"))
