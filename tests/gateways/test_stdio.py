"""The official ``mcp`` client, through ``chamberlain mcp-proxy`` over stdio, to mcp-server-time and
mcp-server-git from PyPI: real answers when allowed, nothing done when denied, filtered lists, the log."""

from __future__ import annotations

import json

import pytest

from tests.gateways.support import (
    TIME_SERVER,
    audit,
    entries,
    git,
    git_upstream,
    make_repo,
    policy_folder,
    session_of,
    stdio_gateway,
    text_of,
    write_config,
)

pytestmark = pytest.mark.anyio

AGENT = {"id": "coder-1", "roles": ["agent"], "attr": {"delegator": {"id": "erin", "roles": ["developer"]}}}


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def world(tmp_path):
    policy_folder(tmp_path)
    repo = make_repo(tmp_path)
    upstreams = [{"name": "time", "command": TIME_SERVER}, git_upstream(repo)]
    config = write_config(tmp_path, upstreams, principal=AGENT)
    return tmp_path, repo, config, f"sqlite:///{tmp_path / 'decisions.db'}"


async def test_agent_session_through_the_gateway(world):
    tmp, repo, config, db = world
    log = tmp / "gateway.log"
    head, staged = git(repo, "rev-parse", "HEAD"), git(repo, "diff", "--cached", "--name-only")
    async with stdio_gateway(config, log) as client:
        # tools/list: both servers' tools, except git_reset, which agents may not see
        names = {t.name for t in (await client.list_tools()).tools}
        assert {"get_current_time", "convert_time", "git_status", "git_commit", "git_add"} <= names
        assert "git_reset" not in names

        # allowed: the time server's real answer
        result = await client.call_tool("get_current_time", {"timezone": "Europe/Paris"})
        assert not result.is_error
        assert json.loads(text_of(result))["timezone"] == "Europe/Paris"
        status = await client.call_tool("git_status", {"repo_path": str(repo)})
        assert not status.is_error and "login.py" in text_of(status)

        # denied: a commit on main; the explanation names the policy, the rule and its output
        denied = await client.call_tool("git_commit", {"repo_path": str(repo), "message": "hotfix"})
        assert denied.is_error
        text = text_of(denied)
        assert "resource.mcp_server.vdefault, rule 'no-commits-to-protected-branches'" in text
        assert '"branch":"main"' in text and "the call was not made" in text
        assert git(repo, "rev-parse", "HEAD") == head
        assert git(repo, "diff", "--cached", "--name-only") == staged

        # denied: a repository outside the project
        outside = await client.call_tool("git_status", {"repo_path": str(tmp)})
        assert outside.is_error and "no rule matched" in text_of(outside)

        # on a feature branch the same commit is allowed: the branch is read from the repository
        created = await client.call_tool(
            "git_create_branch", {"repo_path": str(repo), "branch_name": "feature/login"}
        )
        assert not created.is_error, text_of(created)
        assert not (
            await client.call_tool("git_checkout", {"repo_path": str(repo), "branch_name": "feature/login"})
        ).is_error
        committed = await client.call_tool("git_commit", {"repo_path": str(repo), "message": "add login"})
        assert not committed.is_error, text_of(committed)
        assert git(repo, "rev-parse", "HEAD") != head
        assert git(repo, "log", "-1", "--format=%s") == "add login"

    session = session_of(log)
    recorded = entries(db, session_id=session)
    calls = [e for e in recorded if e["mcp"]["method"] == "tools/call"]
    assert [(e["mcp"]["name"], e["effect"]) for e in calls] == [
        ("get_current_time", "EFFECT_ALLOW"),
        ("git_status", "EFFECT_ALLOW"),
        ("git_commit", "EFFECT_DENY"),
        ("git_status", "EFFECT_DENY"),
        ("git_create_branch", "EFFECT_ALLOW"),
        ("git_checkout", "EFFECT_ALLOW"),
        ("git_commit", "EFFECT_ALLOW"),
    ]
    assert {e["point"] for e in calls} == {"mcp:time", "mcp:git"}
    assert all(len(e["mcp"]["arguments_digest"]) == 64 for e in calls)
    assert calls[2]["resource"]["attr"]["branch"] == "main"
    assert calls[6]["resource"]["attr"]["branch"] == "feature/login"
    assert all(e["principal"]["id"] == "coder-1" for e in recorded)

    replay = audit("replay", "--db", db, session)
    assert replay.returncode == 0, replay.stderr
    lines = replay.stdout.splitlines()
    assert lines[0].startswith(f"session {session}: ")
    assert any("tools/list on git:" in line and "hidden (git_reset)" in line for line in lines)
    denial = next(i for i, line in enumerate(lines) if "tools/call git_commit on git  DENY" in line)
    assert lines[denial + 1].strip() == f"arguments sha256 {calls[2]['mcp']['arguments_digest']}"
    assert "rule 'no-commits-to-protected-branches'" in lines[denial + 2]
    assert any("tools/call git_commit on git  ALLOW" in line for line in lines)
    verify = audit("verify", "--db", db)
    assert verify.returncode == 0 and verify.stdout.startswith("intact: ")


async def test_the_person_sees_and_may_do_what_the_agent_may_not(world):
    tmp, repo, _, _ = world
    erin = write_config(tmp, [git_upstream(repo)], principal={"id": "erin", "roles": ["developer"]})
    async with stdio_gateway(erin, tmp / "erin.log", mode="legacy") as client:
        assert "git_reset" in {t.name for t in (await client.list_tools()).tools}
        reset = await client.call_tool("git_reset", {"repo_path": str(repo)})
        assert not reset.is_error, text_of(reset)
    assert git(repo, "diff", "--cached", "--name-only") == ""
