"""chamberlain.sessions in the server's configuration: every problem named by its key."""

from __future__ import annotations

import pytest

from chamberlain.server.config import ConfigError, load_config


def _load(sessions, tmp_path):
    return load_config(
        None, env={}, overrides={"chamberlain": {"stateDir": str(tmp_path), "sessions": sessions}}
    )


def test_defaults_apply_and_sessions_live_in_the_decision_log(tmp_path):
    config = _load({}, tmp_path)
    assert config.sessions is not None and config.sessions.ttl == 3600 and config.sessions.idle_timeout == 900
    assert config.sessions_url == config.decision_log.url
    assert _load({"enabled": False}, tmp_path).sessions is None


@pytest.mark.parametrize(
    ("sessions", "problem"),
    [
        (
            {"defaults": {"ttl": "48h"}},
            "chamberlain.sessions.defaults.ttl: '48h' is longer than the allowed maximum of 86400s",
        ),
        (
            {"defaults": {"budgets": [{"name": "b", "kind": "k", "actions": ["a"], "limit": -1}]}},
            "chamberlain.sessions.defaults.budgets[0].limit: must not be negative, got -1",
        ),
        (
            {
                "defaults": {
                    "budgets": [
                        {"name": "b", "kind": "k", "actions": ["a"], "limit": 1, "cost": "R.attr.x +"}
                    ]
                }
            },
            "chamberlain.sessions.defaults.budgets[0].cost: 'R.attr.x +' is not a valid CEL expression",
        ),
        (
            {"defaults": {"rateLimits": [{"kind": "k", "actions": [], "max": 1, "per": "1m"}]}},
            "chamberlain.sessions.defaults.rateLimits[0].actions: expected a non-empty list of actions",
        ),
        ({"maxima": {"ttl": "soon"}}, "chamberlain.sessions.maxima.ttl: expected a duration"),
        (
            {"maxima": {"budgets": -2}},
            "chamberlain.sessions.maxima.budgets: expected a non-negative integer, got -2",
        ),
        ({"colour": 1}, "chamberlain.sessions.colour: unknown key"),
        ({"db": "mysql://x"}, "chamberlain.sessions.db: unsupported store URL"),
    ],
)
def test_a_bad_section_names_the_key(tmp_path, sessions, problem):
    with pytest.raises(ConfigError) as caught:
        _load(sessions, tmp_path)
    assert problem in str(caught.value)
