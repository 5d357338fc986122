"""The ``chamberlain`` command."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
import yaml

from chamberlain import helptext, safeyaml, strictjson
from chamberlain.analysis.cli import app as analyze_app
from chamberlain.approvals.cli import app as approvals_app
from chamberlain.audit.tools.cli import app as audit_app
from chamberlain.cel import CelError, compile
from chamberlain.cel.jsonvalue import to_json
from chamberlain.delegation.cli import app as token_app
from chamberlain.devidp.cli import app as dev_app
from chamberlain.exits import USAGE, fail
from chamberlain.extras import MissingExtra, explain, needs
from chamberlain.files import FileRefused, describe_size, read_bounded, read_text_bounded
from chamberlain.gateways.mcp.cli import register as register_mcp_proxy
from chamberlain.sessions.cli import app as session_app
from chamberlain.text import block, plural

helptext.install()
app = typer.Typer(add_completion=True, no_args_is_help=True, help="chamberlain: authorization for AI agents.")
#: A request or activation file: Cerbos's default request body limit.
MAX_REQUEST_BYTES = 4 << 20
app.add_typer(audit_app, name="audit")
app.add_typer(analyze_app, name="analyze")
app.add_typer(token_app, name="token")
app.add_typer(dev_app, name="dev")
app.add_typer(session_app, name="session")
app.add_typer(approvals_app, name="approvals")
register_mcp_proxy(app)


def _print_version(value: bool) -> None:
    if value:
        from chamberlain import __version__

        typer.echo(f"chamberlain {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool,
        typer.Option("--version", callback=_print_version, is_eager=True, help="Print the version and exit."),
    ] = False,
) -> None:
    """chamberlain: authorization for AI agents."""


def _load_activation(activation: Path | None, variables: list[str]) -> dict[str, Any]:
    values: dict[str, Any] = {}
    if activation is not None:
        try:
            loaded = strictjson.loads(read_bounded(activation, MAX_REQUEST_BYTES, "activation file"))
        except (FileRefused, strictjson.JSONError) as exc:
            raise typer.BadParameter(f"cannot read activation {activation}: {exc}") from None
        if not isinstance(loaded, dict):
            raise typer.BadParameter(f"activation {activation} must hold a JSON object")
        values.update(loaded)
    for item in variables:
        name, sep, text = item.partition("=")
        if not sep or not name:
            raise typer.BadParameter(f"--var {item!r}: expected NAME=JSON")
        try:
            values[name] = strictjson.loads(text)
        except strictjson.JSONError:
            values[name] = text  # a bare word is a string: --var user=alice
    return values


@app.command("cel")
def cel_command(
    expression: Annotated[str, typer.Argument(help="The CEL expression.")],
    var: Annotated[list[str], typer.Option("--var", help="A variable as NAME=JSON (repeatable).")] = [],  # noqa: B006
    activation: Annotated[Path | None, typer.Option(help="A JSON file with the variables.")] = None,
) -> None:
    """Evaluate one CEL expression and print its value as JSON."""
    values = _load_activation(activation, var)
    try:
        result = compile(expression).evaluate(values)
    except CelError as exc:
        typer.echo(block(f"error: {exc}"), err=True)
        raise typer.Exit(1) from None
    typer.echo(json.dumps(to_json(result)))


#: The shells typer writes completion scripts for.
SHELLS = ("bash", "zsh", "fish", "powershell", "pwsh")


@app.command("completion")
def completion_command(
    shell: Annotated[str, typer.Argument(help="bash, zsh, fish, powershell or pwsh.")],
) -> None:
    """Print the shell completion script for SHELL (--show-completion guesses the shell instead)."""
    from typer.completion import get_completion_script

    if shell not in SHELLS:
        fail(f"no completion for shell {shell!r}: use one of {', '.join(SHELLS)}")
    typer.echo(
        get_completion_script(prog_name="chamberlain", complete_var="_CHAMBERLAIN_COMPLETE", shell=shell)
    )


@app.command("repl")
def repl_command() -> None:
    """An interactive CEL shell with Cerbos's variables and REPL directives (:let, :vars, :load, :exec; :help)."""
    from chamberlain.repl import run

    run(input, typer.echo, interactive=sys.stdin.isatty())


def _read_request(request: Path) -> Any:
    """A request file (JSON or YAML; ``-`` is stdin), or exit 2 saying why it cannot be read."""
    try:
        if str(request) == "-":
            text = sys.stdin.read(MAX_REQUEST_BYTES + 1)
            if len(text) > MAX_REQUEST_BYTES:
                raise FileRefused(
                    f"the request on stdin is over the {describe_size(MAX_REQUEST_BYTES)} limit"
                )
        else:
            text = read_text_bounded(request, MAX_REQUEST_BYTES, "request file")
        if text.lstrip()[:1] in ("{", "[") or request.suffix == ".json":
            return strictjson.loads(text)  # a JSON mistake is named as one, not as a YAML parser's
        return safeyaml.load(text, "request")
    except (FileRefused, strictjson.JSONError, safeyaml.YAMLRefused, yaml.YAMLError) as exc:
        fail(f"cannot read request {request}: {exc}")


def _pdp(policies: Path, options: dict[str, Any]) -> Any:
    from chamberlain import PDP, PolicyError
    from chamberlain.engine import OptionsError

    try:
        return PDP.from_directory(policies, **options)
    except (PolicyError, OptionsError) as exc:
        fail(str(exc))


@app.command("check")
def check_command(
    policies: Annotated[Path, typer.Option("--policies", help="The policy directory.")],
    request: Annotated[
        Path, typer.Option("--request", help="A Cerbos CheckResources request (JSON or YAML); - for stdin.")
    ],
    schema_enforcement: Annotated[str, typer.Option(help="none, warn or reject.")] = "none",
    lenient_scope_search: Annotated[
        bool, typer.Option(help="Fall back to the nearest scope with policies.")
    ] = False,
    strict_evaluation: Annotated[
        bool, typer.Option(help="A failing condition denies its rule's actions.")
    ] = False,
    default_policy_version: Annotated[
        str, typer.Option(help="Version for requests that set none.")
    ] = "default",
) -> None:
    """Decide a CheckResources request and print Cerbos's response JSON."""
    from chamberlain import Error

    data = _read_request(request)
    pdp = _pdp(
        policies,
        {
            "schema_enforcement": schema_enforcement,
            "lenient_scope_search": lenient_scope_search,
            "strict_evaluation": strict_evaluation,
            "default_policy_version": default_policy_version,
        },
    )
    try:
        response = pdp.check_resources(data)
    except Error as exc:
        fail(str(exc))
    typer.echo(json.dumps(response, indent=2, ensure_ascii=False))


@app.command("plan")
def plan_command(
    policies: Annotated[Path, typer.Option("--policies", help="The policy directory.")],
    request: Annotated[
        Path, typer.Option("--request", help="A Cerbos PlanResources request (JSON or YAML); - for stdin.")
    ],
    lenient_scope_search: Annotated[
        bool, typer.Option(help="Fall back to the nearest scope with policies.")
    ] = False,
    default_policy_version: Annotated[
        str, typer.Option(help="Version for requests that set none.")
    ] = "default",
) -> None:
    """Plan a PlanResources request (which resources may the principal act on) and print Cerbos's response JSON."""
    from chamberlain import Error

    data = _read_request(request)
    pdp = _pdp(
        policies,
        {"lenient_scope_search": lenient_scope_search, "default_policy_version": default_policy_version},
    )
    try:
        response = pdp.plan_resources(data)
    except Error as exc:
        fail(str(exc))
    typer.echo(json.dumps(response, indent=2, ensure_ascii=False))


@app.command("compile")
def compile_command(
    directory: Annotated[Path, typer.Argument(help="The policy directory (its test suites are run too).")],
    output: Annotated[str, typer.Option("--output", "-o", help="text, json or junit.")] = "text",
    tests: Annotated[
        Path | None, typer.Option(help="Where the test suites are (default: the policy directory).")
    ] = None,
    skip_tests: Annotated[bool, typer.Option(help="Only validate and compile.")] = False,
    ignore_schemas: Annotated[
        bool, typer.Option(help="Run the suites without schema enforcement (default: reject, as Cerbos).")
    ] = False,
    test_filter: Annotated[
        list[str],
        typer.Option(
            "--test-filter",
            metavar="FILTER",
            help="Run only the tests that match, as cerbos compile: 'suite=GLOB,GLOB;test=GLOB;principal=GLOB;"
            "resource=GLOB;action=GLOB' (repeatable; dimensions merge).",
        ),
    ] = [],  # noqa: B006
    verbose: Annotated[
        bool, typer.Option("--verbose", "-v", help="Print every test's result, not only failures.")
    ] = False,
) -> None:
    """Validate and compile a policy directory, then run its test suites; exit 1 on any failure.

    The suites run with schema enforcement ``reject``, as ``cerbos compile`` runs them: a test whose
    principal or resource breaks its schema is denied every action the schema is not ignored for.
    """
    from chamberlain import colour
    from chamberlain.engine.testfilter import TestFilterError, parse_test_filters
    from chamberlain.engine.testsuite import SuiteFilter, failed, render_junit, render_text, run_all

    if output not in ("text", "json", "junit"):
        fail(f"--output must be text, json or junit, not {output!r}")
    try:
        suite_filter = SuiteFilter(globs=parse_test_filters(test_filter))
    except TestFilterError as exc:
        fail(str(exc))
    pdp = _pdp(directory, {"schema_enforcement": "none" if ignore_schemas else "reject"})
    compiled = plural(len(pdp.policies), "policy", "policies") + " compiled"
    if not pdp.policies:
        typer.echo(f"warning: {directory} holds no policies", err=True)
    if skip_tests:
        typer.echo(compiled)
        return
    results = run_all(pdp.engine, tests or directory, suite_filter)
    if output == "json":
        typer.echo(json.dumps(results, indent=2, ensure_ascii=False))
    elif output == "junit":
        typer.echo(render_junit(results), nl=False)
    else:
        paint = colour.painter(sys.stdout)
        typer.echo(compiled)
        typer.echo(render_text(results, verbose=verbose, paint=paint), color=paint is colour.ansi)
    if failed(results):
        raise typer.Exit(1)


@app.command("serve")
def serve_command(
    config: Annotated[
        Path | None, typer.Option("--config", help="A Cerbos configuration file (YAML).")
    ] = None,
    policies: Annotated[
        Path | None, typer.Option("--policies", help="The policy directory (storage.disk.directory).")
    ] = None,
    http: Annotated[
        str | None, typer.Option("--http", help="Listen address host:port (server.httpListenAddr).")
    ] = None,
    state_dir: Annotated[Path | None, typer.Option("--state-dir", help="chamberlain's state folder.")] = None,
    audit_db: Annotated[
        str | None,
        typer.Option(
            "--audit-db", help="Decision log URL (chamberlain.audit.db): sqlite:///PATH or postgresql://..."
        ),
    ] = None,
    set_: Annotated[
        list[str], typer.Option("--set", help="Override a key: --set engine.strictEvaluation=true.")
    ] = [],  # noqa: B006
    log_format: Annotated[
        str | None,
        typer.Option(
            "--log-format",
            help="auto (text on a terminal, JSON lines otherwise), json or text (chamberlain.logFormat).",
        ),
    ] = None,
    processes: Annotated[
        int | None,
        typer.Option(
            "--processes",
            help="Serving processes on the port, e.g. one per core (chamberlain.processes; default 1).",
        ),
    ] = None,
) -> None:
    """Serve Cerbos's HTTP API and AuthZEN (default http://127.0.0.1:3592)."""
    from chamberlain import Error

    try:
        with needs("server", "chamberlain serve"):
            from chamberlain.server.config import load_config
            from chamberlain.server.serve import serve
    except MissingExtra as exc:
        fail(str(exc))

    overrides: dict[str, Any] = {}

    def put(path: str, value: Any) -> None:
        node = overrides
        *parents, last = path.split(".")
        for part in parents:
            node = node.setdefault(part, {})
        node[last] = value

    for item in set_:
        key, sep, text = item.partition("=")
        if not sep or not key:
            fail(f"--set {item!r}: expected KEY=VALUE, for example engine.strictEvaluation=true")
        try:
            put(key, safeyaml.load(text, f"--set {key}") if text else "")
        except (yaml.YAMLError, safeyaml.YAMLRefused) as exc:
            fail(f"--set {item!r}: the value is not valid YAML: {exc}")
    if policies is not None:
        put("storage.disk.directory", str(policies))
    if http is not None:
        put("server.httpListenAddr", http)
    if state_dir is not None:
        put("chamberlain.stateDir", str(state_dir))
    if audit_db is not None:
        put("chamberlain.audit.db", audit_db)
    if log_format is not None:
        put("chamberlain.logFormat", log_format)
    if processes is not None:
        put("chamberlain.processes", processes)
    try:
        settings = load_config(config, overrides=overrides)
        if not settings.policy_dir.is_dir():
            fail(f"policy directory {settings.policy_dir} does not exist: pass --policies DIR")
        settings.state_dir.mkdir(parents=True, exist_ok=True)
        serve(settings)
    except Error as exc:
        fail(str(exc))
    except OSError as exc:
        fail(f"cannot serve: {exc}")


def main() -> None:
    try:
        app()
    except (ModuleNotFoundError, MissingExtra) as exc:  # a command whose extra is missing
        missing = exc if isinstance(exc, MissingExtra) else explain(exc, f"chamberlain {_command()}")
        if missing is None:
            raise
        typer.echo(block(f"error: {missing}"), err=True)
        raise SystemExit(USAGE) from None


def _command() -> str:
    """The command's words on the command line (``dev idp serve``), for the error naming its extra."""
    words = []
    for word in sys.argv[1:]:
        if word.startswith("-"):
            break
        words.append(word)
    return " ".join(words[:3])
