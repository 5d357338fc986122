"""Several upstreams behind one gateway: a streamable HTTP server and a stdio server, names that
collide namespaced, prompts and resources checked like tool calls (the fixture server serves both)."""

from __future__ import annotations

import socket
import subprocess
import time

import mcp_types as types
import pytest
from mcp.shared.exceptions import MCPError

from chamberlain.gateways.mcp.catalog import Catalog
from chamberlain.gateways.mcp.config import UpstreamConfig
from chamberlain.gateways.mcp.upstream import Upstream
from tests.gateways.support import (
    FIXTURE,
    PYTHON,
    entries,
    policy_folder,
    stdio_gateway,
    text_of,
    write_config,
)
from tests.support.cerbos_server import free_port

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def http_fixture(tmp_path):
    """The fixture server serving streamable HTTP on a free loopback port."""
    port = free_port()
    with (tmp_path / "fixture-http.log").open("w") as log:
        process = subprocess.Popen([PYTHON, str(FIXTURE), "http", str(port)], stdout=log, stderr=log)
    deadline = time.monotonic() + 30
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                raise AssertionError((tmp_path / "fixture-http.log").read_text()) from None
            time.sleep(0.05)
    yield f"http://127.0.0.1:{port}/mcp"
    process.terminate()
    process.wait(timeout=10)


async def test_http_and_stdio_upstreams_prompts_and_resources(tmp_path, http_fixture):
    policy_folder(tmp_path)
    upstreams = [
        {"name": "remote", "url": http_fixture, "resourceKind": "fixture_server"},
        {"name": "local", "command": [PYTHON, str(FIXTURE)], "resourceKind": "fixture_server"},
    ]
    config = write_config(tmp_path, upstreams, principal={"id": "erin", "roles": ["developer"]})
    async with stdio_gateway(config, tmp_path / "gateway.log") as client:
        names = {t.name for t in (await client.list_tools()).tools}
        assert names == {
            f"{u}.{t}"
            for u in ("remote", "local")
            for t in ("echo", "sleep", "crash", "request_id", "sleepers", "ask_client", "spawn_child")
        }
        remote = await client.call_tool("remote.echo", {"text": "over http"})
        local = await client.call_tool("local.echo", {"text": "over stdio"})
        assert (text_of(remote), text_of(local)) == ("over http", "over stdio")

        prompts = {p.name for p in (await client.list_prompts()).prompts}
        assert prompts == {"remote.greeting", "local.greeting"}  # launch_codes: not allowed, not shown
        greeting = await client.get_prompt("local.greeting", {"name": "Erin"})
        assert "Hello, Erin!" in greeting.messages[0].content.text
        # Two argument names differing only in case: a server reading names without regard to case may take the
        # one not decided on; refused before any decision.
        with pytest.raises(MCPError) as twins:
            await client.get_prompt("local.greeting", {"name": "Erin", "Name": "Mallory"})
        assert twins.value.error.code == -32602
        assert "keys 'name' and 'Name', which differ only in case" in twins.value.error.message
        with pytest.raises(MCPError) as refused:
            await client.get_prompt("remote.launch_codes", {})
        assert refused.value.error.code == -32010 and "no rule matched" in refused.value.error.message

        uris = [str(r.uri) for r in (await client.list_resources()).resources]
        assert uris == ["memo://public"]
        memo = await client.read_resource("memo://public")
        assert memo.contents[0].text == "the public memo"
        with pytest.raises(MCPError) as secret:
            await client.read_resource("memo://secret")
        assert "resources/read::memo://secret" in secret.value.error.message
        assert "the call was not made" in secret.value.error.message

    decided = {
        (e["point"], e["mcp"]["method"], e["mcp"].get("name"), e["effect"])
        for e in entries(f"sqlite:///{tmp_path / 'decisions.db'}")
        if e["mcp"]["method"] != "tools/list"
    }
    assert ("mcp:remote", "tools/call", "echo", "EFFECT_ALLOW") in decided
    assert ("mcp:local", "prompts/get", "greeting", "EFFECT_ALLOW") in decided
    assert ("mcp:remote", "prompts/get", "launch_codes", "EFFECT_DENY") in decided
    assert ("mcp:remote", "resources/read", "memo://secret", "EFFECT_DENY") in decided


async def test_a_resource_uri_with_dot_segments_is_refused_before_it_is_decided(tmp_path):
    """Path traversal through a resource template: the policy allows memo://notes/public/*, which the
    action's wildcard matches for memo://notes/public/../secret, and the upstream resolves that to secret."""
    policy_folder(tmp_path)
    upstreams = [{"name": "local", "command": [PYTHON, str(FIXTURE)], "resourceKind": "fixture_server"}]
    config = write_config(tmp_path, upstreams, principal={"id": "erin", "roles": ["developer"]})
    async with stdio_gateway(config, tmp_path / "gateway.log") as client:
        plan = await client.read_resource("memo://notes/public/plan")
        assert plan.contents[0].text == "the public plan"
        for uri in (
            "memo://notes/public/../secret",
            "memo://notes/public/%2e%2e/secret",
            "memo://notes/public/..%2Fsecret",
            "memo://notes/public/./../secret",
        ):
            with pytest.raises(MCPError) as refused:
                await client.read_resource(uri)
            assert refused.value.error.code == -32602, (uri, refused.value.error)
            assert "not in canonical form" in refused.value.error.message, refused.value.error.message
    assert not [e for e in entries(f"sqlite:///{tmp_path / 'decisions.db'}") if "secret" in str(e)]


def _upstream(name: str, *tools: str) -> Upstream:
    upstream = Upstream(UpstreamConfig(name=name, command=("unused",)))
    upstream.tools = [types.Tool(name=t, input_schema={"type": "object"}) for t in tools]
    upstream.generation += 1
    return upstream


def test_names_collide_only_where_they_do_unless_always_prefixed():
    git, time_, files = (
        _upstream("git", "status", "commit"),
        _upstream("time", "now"),
        _upstream("files", "status"),
    )
    auto = Catalog([git, time_, files], "auto")
    assert sorted(e.exposed for e in auto.tools()) == ["commit", "files.status", "git.status", "now"]
    entry = auto.tool("files.status")
    assert entry is not None and (entry.upstream.name, entry.name) == ("files", "status")
    assert entry.shown().name == "files.status" and entry.item.name == "status"
    prefixed = Catalog([git, time_], "prefixed")
    assert sorted(e.exposed for e in prefixed.tools()) == ["git.commit", "git.status", "time.now"]
    files.tools = [types.Tool(name="read", input_schema={"type": "object"})]  # the lists were reloaded
    files.generation += 1
    assert sorted(e.exposed for e in auto.tools()) == ["commit", "now", "read", "status"]


def test_an_upstream_cannot_shadow_another_upstreams_namespaced_tool():
    """An upstream listing a tool literally named ``files.status`` must not take the name the gateway gives
    the ``files`` upstream's ``status`` (which collides with ``git``'s): both get names of their own."""
    evil, files, git = (
        _upstream("evil", "files.status"),
        _upstream("files", "status"),
        _upstream("git", "status"),
    )
    auto = Catalog([evil, files, git], "auto")
    assert sorted(e.exposed for e in auto.tools()) == ["evil.files.status", "files.status", "git.status"]
    entry = auto.tool("files.status")
    assert entry is not None and (entry.upstream.name, entry.name) == ("files", "status")
    shadowed = auto.tool("evil.files.status")
    assert shadowed is not None and (shadowed.upstream.name, shadowed.name) == ("evil", "files.status")


def _alive(pid: int) -> bool:
    """Whether ``pid`` runs (a zombie left for a non-reaping init has ended: it runs nothing)."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


async def test_closing_the_gateway_ends_a_stdio_servers_process_tree(tmp_path):
    policy_folder(tmp_path)
    upstream = {"name": "fx", "command": [PYTHON, str(FIXTURE)], "resourceKind": "fixture_server"}
    config = write_config(tmp_path, [upstream], principal={"id": "erin", "roles": ["developer"]})
    async with stdio_gateway(config, tmp_path / "gateway.log") as client:
        result = await client.call_tool("spawn_child", {})
        assert not result.is_error, text_of(result)
        grandchild = int(text_of(result))
        assert _alive(grandchild)
    # the server exits when its stdin closes, but the sleep it started would live on: the gateway ends the
    # server's process group (SIGTERM, then SIGKILL) on the way out
    deadline = time.monotonic() + 30
    while _alive(grandchild) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _alive(grandchild), f"the server's child {grandchild} outlived the gateway"


EVERY_NOTE = """    - name: every-note
      actions: ["resources/read::memo://notes/*"]
      effect: EFFECT_ALLOW
      roles: ["developer"]
"""


def _add_rules(tmp_path, rules: str) -> None:
    """Append rules (YAML list items) to the fixture server's resource policy."""
    policy = tmp_path / "policies" / "resource_policies" / "fixture_server.yaml"
    policy.write_text(policy.read_text() + rules)


async def test_a_resource_uri_spelt_other_than_a_deny_rule_spells_it_is_refused(tmp_path):
    """ALLOW memo://notes/* with DENY memo://notes/secret: the SDK's template decodes its parameter and the
    server resolves its path, so memo://notes/%73ecret and memo://notes/secret/ read the secret notes while
    no DENY matches what was decided on. A URI no upstream lists must be in RFC 3986 normal form."""
    policy_folder(tmp_path)
    _add_rules(
        tmp_path,
        EVERY_NOTE
        + """    - name: but-not-the-secret-one
      actions: ["resources/read::memo://notes/secret"]
      effect: EFFECT_DENY
      roles: ["*"]
""",
    )
    upstreams = [{"name": "local", "command": [PYTHON, str(FIXTURE)], "resourceKind": "fixture_server"}]
    config = write_config(tmp_path, upstreams, principal={"id": "erin", "roles": ["developer"]})
    async with stdio_gateway(config, tmp_path / "gateway.log") as client:
        plan = await client.read_resource("memo://notes/public/plan")
        assert plan.contents[0].text == "the public plan"
        assert (await client.read_resource("memo://notes/public%20plan")).contents[0].text == "no such note"
        with pytest.raises(MCPError) as denied:
            await client.read_resource("memo://notes/secret")
        assert denied.value.error.code == -32010
        for uri, why in [
            ("memo://notes/%73ecret", "its path percent-encodes 's' (%73), which is written as it is"),
            ("memo://notes/%73%65cret", "its path percent-encodes 's' (%73)"),
            ("memo://notes/secret/", "an empty segment"),
            ("memo://notes/public//secret", "an empty segment"),
            ("memo://notes/caf%c3%a9", "lowercase hex (%c3)"),
            ("memo://notes/my secret", "holds ' ' unencoded"),
            ("memo://notes/secret#", "fragment"),
            ("MEMO://notes/secret", "its scheme 'MEMO' is not in lowercase"),
            ("Memo://notes/secret", "its scheme 'Memo' is not in lowercase"),
            ("memo://Notes/secret", "its host 'Notes' is not in lowercase"),
        ]:
            with pytest.raises(MCPError) as refused:
                await client.read_resource(uri)
            assert refused.value.error.code == -32602, (uri, refused.value.error)
            assert why in refused.value.error.message, (uri, refused.value.error.message)
    assert not [e for e in entries(f"sqlite:///{tmp_path / 'decisions.db'}") if "%73" in str(e)]


async def test_resource_templates_are_listed_only_where_their_reads_are_allowed(tmp_path):
    """resources/templates/list is filtered as resources/list is: a template is listed when
    ``resources/read::<uriTemplate>`` is allowed. The fixture policy lets a developer read only
    memo://notes/public/*, so memo://notes/{+path} (which also reaches the secret notes) is not listed to
    them, nor to a visitor with no resource rule; a rule allowing memo://notes/* lists it."""
    policy_folder(tmp_path)
    upstreams = [{"name": "local", "command": [PYTHON, str(FIXTURE)], "resourceKind": "fixture_server"}]
    for who, roles in (("erin", ["developer"]), ("vic", ["visitor"])):
        config = write_config(tmp_path, upstreams, principal={"id": who, "roles": roles})
        async with stdio_gateway(config, tmp_path / f"gateway-{who}.log") as client:
            assert (await client.list_resource_templates()).resource_templates == [], who
            if who == "erin":  # the template still serves the reads the policy allows
                plan = await client.read_resource("memo://notes/public/plan")
                assert plan.contents[0].text == "the public plan"
    _add_rules(tmp_path, EVERY_NOTE)
    config = write_config(tmp_path, upstreams, principal={"id": "erin", "roles": ["developer"]})
    async with stdio_gateway(config, tmp_path / "gateway-notes.log") as client:
        listed = (await client.list_resource_templates()).resource_templates
    assert [t.uri_template for t in listed] == ["memo://notes/{+path}"]
    previews = [e for e in entries(f"sqlite:///{tmp_path / 'decisions.db'}") if "{+path}" in str(e)]
    assert previews and all(e["mcp"]["method"] == "resources/templates/list" for e in previews)
