"""``chamberlain token exchange | inspect | rotate-key``, registered as the main CLI will register it."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from tests.delegation.conftest import World
from tests.delegation.support import PAYMENTS
from typer.testing import CliRunner

from chamberlain.delegation.cli import app as token_app

main = typer.Typer()
main.add_typer(token_app, name="token")
runner = CliRunner()


def cli(*args: str) -> tuple[int, str]:
    result = runner.invoke(main, ["token", *args], terminal_width=200)
    return result.exit_code, result.output


def hops(world: World) -> str:
    code, first = cli(
        "exchange",
        "--server",
        world.url,
        "--subject-token",
        world.person(),
        "--actor-token",
        world.agent("planner-agent"),
        "--audience",
        "tool-agent",
        "--token-only",
    )
    assert code == 0, first
    code, second = cli(
        "exchange",
        "--server",
        world.url,
        "--subject-token",
        first.strip(),
        "--actor-token",
        world.agent("tool-agent"),
        "--resource",
        PAYMENTS,
        "--scope",
        "payments:write",
    )
    assert code == 0, second
    return json.loads(second)["access_token"]


def test_exchange_then_inspect_shows_the_chain(world: World, tmp_path: Path) -> None:
    token = hops(world)
    (tmp_path / "token").write_text(token)
    code, out = cli(
        "inspect",
        f"@{tmp_path / 'token'}",
        "--key-file",
        str(world.service.config.signing_key_file),
        "--audience",
        PAYMENTS,
    )
    assert code == 0, out
    lines = [line.rstrip() for line in out.splitlines()]
    assert "├── audience: https://payments.example" in lines
    assert "├── scope: payments:write" in lines
    assert any(line.startswith("├── expires: ") and "(in 9m" in line for line in lines), (
        out
    )  # the IdP tokens live 10 minutes
    assert "└── alice (subject)" in lines
    assert "    └── planner-agent (actor 1; roles planner_agent; iss https://idp.example)" in lines
    assert "        └── tool-agent (actor 2, current; roles tool_agent; iss https://idp.example)" in lines


def test_inspect_with_the_servers_jwks_and_a_failed_verification(world: World) -> None:
    token = hops(world)
    code, out = cli("inspect", token, "--server", world.url)
    assert code == 0 and "alice (subject)" in out
    code, out = cli("inspect", token, "--server", world.url, "--audience", "https://hr.example")
    assert code == 1  # a JWT that does not verify: the answer is no
    assert (
        "not verified: token: claim aud ['https://payments.example'] does not name https://hr.example" in out
    )


def test_a_refused_exchange_says_why(world: World) -> None:
    code, out = cli(
        "exchange",
        "--server",
        world.url,
        "--subject-token",
        world.person(),
        "--actor-token",
        world.agent("planner-agent"),
        "--audience",
        PAYMENTS,
    )
    assert code == 1
    assert "refused (400): invalid_target: audience 'https://payments.example' is not granted" in out


def test_rotate_key(tmp_path: Path) -> None:
    path = tmp_path / "keys.json"
    code, first = cli("rotate-key", "--key-file", str(path), "--algorithm", "ES256")
    assert code == 0 and "(ES256)" in first
    assert cli("rotate-key", "--key-file", str(path), "--algorithm", "EdDSA", "--publish-for", "1h")[0] == 0
    keys = json.loads(path.read_text())["keys"]
    assert [k["alg"] for k in keys] == ["EdDSA", "ES256"]
    assert "publishUntil" not in keys[0] and "publishUntil" in keys[1]
    assert cli("rotate-key", "--key-file", str(path), "--algorithm", "RS256")[0] == 2


def test_inspect_says_when_a_token_is_not_chamberlains(tmp_path: Path) -> None:
    """Not a JWT: exit 2 (unreadable input). Another issuer's JWT: exit 1, naming its key and issuer."""
    from chamberlain.devidp.cli import app as dev_app

    keys = tmp_path / "keys.json"
    assert cli("rotate-key", "--key-file", str(keys))[0] == 0
    code, out = cli("inspect", "hello", "--key-file", str(keys))
    assert code == 2
    assert "error: not a chamberlain token: token: not a JWT: expected three dot-separated parts" in out
    idp = tmp_path / "idp"
    runner = CliRunner()
    assert runner.invoke(dev_app, ["idp", "init", str(idp)]).exit_code == 0
    minted = runner.invoke(dev_app, ["idp", "token", "alice", "--dir", str(idp), "--roles", "user"])
    assert minted.exit_code == 0, minted.output
    code, out = cli("inspect", minted.stdout.strip(), "--key-file", str(keys))
    assert code == 1
    assert "error: not a chamberlain token: it is signed with key 'dev-idp-not-for-production-" in out
    assert "by issuer 'http://127.0.0.1:3599'" in out and "pass its key set with --jwks" in out
    code, out = cli("inspect", minted.stdout.strip(), "--jwks", str(idp / "jwks.json"))
    assert code == 0 and "alice (subject)" in out
