"""``chamberlain.approvals``: whether approvals are on, and their default times.

```yaml
chamberlain:
  approvals:
    enabled: true           # approvals live where sessions do (the decision log's database)
    defaultTTL: 15m         # time to decide, when the rule's approval map gives no ttl
    executionWindow: 15m    # time to retry the approved action
```
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from chamberlain.approvals.errors import InvalidApproval
from chamberlain.approvals.model import MAX_TTL
from chamberlain.durations import parse_duration

DEFAULTS: dict[str, Any] = {"enabled": True, "defaultTTL": "15m", "executionWindow": "15m"}


@dataclass(frozen=True, slots=True)
class ApprovalSettings:
    """The validated ``chamberlain.approvals`` section."""

    enabled: bool = True
    default_ttl: float = 900.0
    execution_window: float = 900.0


def parse_settings(section: Any) -> ApprovalSettings:
    """``chamberlain.approvals`` -> ApprovalSettings; raises InvalidApproval naming the key."""
    if section is None:
        return ApprovalSettings()
    if not isinstance(section, Mapping):
        raise InvalidApproval("chamberlain.approvals: expected a map")
    unknown = sorted(set(section) - set(DEFAULTS))
    if unknown:
        raise InvalidApproval(
            f"chamberlain.approvals.{unknown[0]}: unknown key (allowed: {', '.join(DEFAULTS)})"
        )
    enabled = section.get("enabled", True)
    if not isinstance(enabled, bool):
        raise InvalidApproval(f"chamberlain.approvals.enabled: expected true or false, got {enabled!r}")
    return ApprovalSettings(enabled, _duration(section, "defaultTTL"), _duration(section, "executionWindow"))


def _duration(section: Mapping[str, Any], key: str) -> float:
    value = section.get(key, DEFAULTS[key])
    try:
        seconds = parse_duration(value, positive=True)
    except ValueError as exc:
        raise InvalidApproval(f"chamberlain.approvals.{key}: {exc}") from None
    if seconds > MAX_TTL:
        raise InvalidApproval(f"chamberlain.approvals.{key}: at most {MAX_TTL:g}s, got {value!r}")
    return seconds
