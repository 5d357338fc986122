"""``chamberlain.approvals``: whether approvals are on, and their default times.

```yaml
chamberlain:
  approvals:
    enabled: true           # approvals live where sessions do (the decision log's database)
    defaultTTL: 15m         # time to decide, when the rule's approval map gives no ttl
    executionWindow: 15m    # time to retry the approved action
    requestLimit: {max: 30, per: 1h}   # new requests one agent may open in any such window
    webhooks: []            # [{url, secret, format: json|slack, timeout: 5s}]: told of every new request
```
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from chamberlain.approvals.errors import InvalidApproval
from chamberlain.approvals.model import MAX_TTL
from chamberlain.approvals.webhooks import Webhook, parse_webhooks
from chamberlain.config_values import boolean, unknown_keys
from chamberlain.durations import parse_duration

DEFAULTS: dict[str, Any] = {
    "enabled": True,
    "defaultTTL": "15m",
    "executionWindow": "15m",
    "requestLimit": {"max": 30, "per": "1h"},
    "webhooks": [],
}
MAX_REQUEST_LIMIT = 100_000


@dataclass(frozen=True, slots=True)
class RequestLimit:
    """At most ``max`` new requests opened by one agent in any window of ``per`` seconds (sliding)."""

    max: int = 30
    per: float = 3600.0


DEFAULT_REQUEST_LIMIT = RequestLimit()


@dataclass(frozen=True, slots=True)
class ApprovalSettings:
    """The validated ``chamberlain.approvals`` section."""

    enabled: bool = True
    default_ttl: float = 900.0
    execution_window: float = 900.0
    request_limit: RequestLimit = DEFAULT_REQUEST_LIMIT
    webhooks: tuple[Webhook, ...] = ()


def parse_settings(section: Any) -> ApprovalSettings:
    """``chamberlain.approvals`` -> ApprovalSettings; raises InvalidApproval naming the key."""
    if section is None:
        return ApprovalSettings()
    if not isinstance(section, Mapping):
        raise InvalidApproval("chamberlain.approvals: expected a map")
    unknown = unknown_keys(section, DEFAULTS, "chamberlain.approvals")
    if unknown:
        raise InvalidApproval(min(unknown))
    try:
        enabled = boolean(section.get("enabled", True))
    except ValueError as exc:
        raise InvalidApproval(f"chamberlain.approvals.enabled: {exc}") from None
    return ApprovalSettings(
        enabled,
        _duration(section, "defaultTTL"),
        _duration(section, "executionWindow"),
        _request_limit(section.get("requestLimit", DEFAULTS["requestLimit"])),
        parse_webhooks(section.get("webhooks", [])),
    )


def _request_limit(value: Any) -> RequestLimit:
    path = "chamberlain.approvals.requestLimit"
    if not isinstance(value, Mapping):
        raise InvalidApproval(f"{path}: expected a map {{max, per}}")
    unknown = unknown_keys(value, ("max", "per"), path)
    if unknown:
        raise InvalidApproval(min(unknown))
    count = value.get("max", 30)
    if isinstance(count, bool) or not isinstance(count, int) or not 1 <= count <= MAX_REQUEST_LIMIT:
        raise InvalidApproval(
            f"{path}.max: expected an integer between 1 and {MAX_REQUEST_LIMIT}, got {count!r}"
        )
    return RequestLimit(count, _duration(value, "per", f"{path}.per", "1h"))


def _duration(section: Mapping[str, Any], key: str, path: str = "", default: Any = None) -> float:
    path = path or f"chamberlain.approvals.{key}"
    value = section.get(key, DEFAULTS.get(key, default))
    try:
        seconds = parse_duration(value, positive=True)
    except ValueError as exc:
        raise InvalidApproval(f"{path}: {exc}") from None
    if seconds > MAX_TTL:
        raise InvalidApproval(f"{path}: at most {MAX_TTL:g}s, got {value!r}")
    return seconds
