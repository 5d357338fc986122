"""``chamberlain analyze``: the vault map (access), unused access (usage) and policy-change impact."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer

from chamberlain.errors import Error
from chamberlain.text import block

app = typer.Typer(add_completion=False, no_args_is_help=True,
                  help="Who can reach what (access), what they use (usage), what a policy change changes (impact).")  # fmt: skip
Policies = Annotated[Path, typer.Option("--policies", help="The policy directory.")]
Db = Annotated[str | None, typer.Option("--db", help="A decision log: sqlite:///PATH or postgresql://...",
                                        envvar="CHAMBERLAIN_AUDIT_DB")]  # fmt: skip
Json = Annotated[bool, typer.Option("--json", help="Print JSON.")]
Timeout = Annotated[float, typer.Option("--timeout", help="Seconds the analysis may take (it stops, saying so).")]


def fail(message: str, code: int = 2) -> NoReturn:
    typer.echo(block(f"error: {message}"), err=True)
    raise typer.Exit(code)


def load_pdp(policies: Path, strict: bool = False) -> Any:
    from chamberlain import PDP

    try:
        return PDP.from_directory(policies, strict_evaluation=strict)
    except Error as exc:
        fail(str(exc))


@contextlib.contextmanager
def open_reader(url: str | None) -> Iterator[Any]:
    """The decision log at ``url`` read-only (``None`` when no URL is given)."""
    if url is None:
        yield None
        return
    from chamberlain.audit.reader import AuditReader
    from chamberlain.store.db import open_database

    try:
        db = open_database(url, create=False, readonly=True)
    except Error as exc:
        fail(str(exc))
    try:
        yield AuditReader(db)
    except Error as exc:
        fail(str(exc))
    finally:
        db.close()


@contextlib.contextmanager
def progress_bar(label: str) -> Iterator[Any]:
    """A progress callback ``(done, total)`` drawing a bar on a terminal's stderr (nothing otherwise)."""
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn

    console = Console(stderr=True)
    with Progress(label, BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(), console=console,
                  transient=True, disable=not console.is_terminal) as progress:  # fmt: skip
        task = progress.add_task(label, total=None)
        yield lambda done, total: progress.update(task, completed=done, total=total)


def _registry(agents: Path | None) -> Any:
    if agents is None:
        return None
    from chamberlain.delegation.registry import load_registry

    problems: list[str] = []
    registry = load_registry(agents, "--agents", problems)
    if problems:
        fail("\n".join(problems))
    return registry


def _principals(items: list[str]) -> list[Any]:
    from chamberlain.analysis.subjects import principal_subject

    out = []
    for item in items:
        pid, sep, roles = item.partition("=")
        if not sep or not pid or not roles:
            fail(f"--principal {item!r}: expected ID=ROLE[,ROLE...]")
        out.append(principal_subject(pid, [r for r in roles.split(",") if r]))
    return out


@app.command("access")
def access_command(
    policies: Policies,
    db: Db = None,
    agents: Annotated[Path | None, typer.Option("--agents", help="The agents registry (agentsFile).")] = None,
    sensitive: Annotated[list[str] | None, typer.Option("--sensitive", help="KIND or KIND:ACTION (repeatable).")] = None,
    principal: Annotated[list[str] | None, typer.Option("--principal", help="ID=ROLE[,ROLE] to map too (repeatable).")] = None,
    html_file: Annotated[Path | None, typer.Option("--html", help="Also write the HTML report (with the graph) here.")] = None,
    strict_evaluation: Annotated[bool, typer.Option(help="Plan as engine.strictEvaluation: true decides.")] = False,
    as_json: Json = False,
    timeout: Timeout = 600.0,
) -> None:  # fmt: skip
    """The vault map: for every role, derived role, principal, agent and chain, each resource and action:
    ALWAYS, CONDITIONALLY (with the condition) or NEVER allowed."""
    from rich.console import Console

    from chamberlain.analysis import Budget, build_map, policy_subjects, policy_targets
    from chamberlain.analysis.logsubjects import log_subjects
    from chamberlain.analysis.render import html_report, rich_tables
    from chamberlain.analysis.subjects import registry_subjects

    pdp = load_pdp(policies, strict_evaluation)
    registry = _registry(agents)
    subjects = policy_subjects(pdp.policies) + _principals(principal or [])
    notes: list[str] = []
    if registry is not None:
        subjects += registry_subjects(registry)
    with open_reader(db) as reader:
        if reader is not None:
            found = log_subjects(reader, registry)
            subjects += found.items
            notes += found.skipped
    targets = policy_targets(pdp.policies, sensitive or [])
    with progress_bar("mapping") as progress:
        vault = build_map(pdp.engine, subjects, targets, budget=Budget(seconds=timeout, progress=progress))
    vault.notes.extend(notes)
    if html_file is not None:
        try:
            html_file.write_text(html_report(vault), encoding="utf-8")
        except OSError as exc:
            fail(f"cannot write {html_file}: {exc}")
    if as_json:
        typer.echo(json.dumps(vault.to_json(), indent=2, ensure_ascii=False))
    else:
        console = Console(width=200)
        for renderable in rich_tables(vault):
            console.print(renderable)
    if not vault.complete:
        raise typer.Exit(3)
