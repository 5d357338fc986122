"""``chamberlain analyze``: the vault map (access), unused access (usage) and policy-change impact."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any

import typer

from chamberlain.errors import Error
from chamberlain.exits import FAILED, USAGE, fail

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    help="Who can reach what (access), what they use (usage), what a policy change changes (impact).",
)
Policies = Annotated[Path, typer.Option("--policies", help="The policy directory.")]
Db = Annotated[
    str | None,
    typer.Option(
        "--db", help="A decision log: sqlite:///PATH or postgresql://...", envvar="CHAMBERLAIN_AUDIT_DB"
    ),
]
Json = Annotated[bool, typer.Option("--json", help="Print JSON.")]
Timeout = Annotated[
    float, typer.Option("--timeout", help="Seconds the analysis may take (it stops, saying so).")
]


def load_pdp(policies: Path, strict: bool = False) -> Any:
    from chamberlain import PDP

    try:
        return PDP.from_directory(policies, strict_evaluation=strict)
    except Error as exc:
        fail(str(exc))


@contextlib.contextmanager
def open_reader(url: str | None) -> Iterator[Any]:
    """The decision log at ``url`` read-only (``None`` when no URL is given); exit 2 saying why it cannot be read."""
    from chamberlain.audit.tools.cli import _reader

    if url is None:
        yield None
        return
    with _reader(url) as reader:
        yield reader


@contextlib.contextmanager
def progress_bar(label: str) -> Iterator[Any]:
    """A progress callback ``(done, total)`` drawing a bar on a terminal's stderr (nothing otherwise)."""
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn

    console = Console(stderr=True)
    with Progress(
        label,
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=console,
        transient=True,
        disable=not console.is_terminal,
    ) as progress:
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
    sensitive: Annotated[
        list[str] | None, typer.Option("--sensitive", help="KIND or KIND:ACTION (repeatable).")
    ] = None,
    principal: Annotated[
        list[str] | None, typer.Option("--principal", help="ID=ROLE[,ROLE] to map too (repeatable).")
    ] = None,
    html_file: Annotated[
        Path | None, typer.Option("--html", help="Also write the HTML report (with the graph) here.")
    ] = None,
    strict_evaluation: Annotated[
        bool, typer.Option(help="Plan as engine.strictEvaluation: true decides.")
    ] = False,
    as_json: Json = False,
    timeout: Timeout = 600.0,
) -> None:
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
        raise typer.Exit(USAGE)  # the budget ran out: the answer printed is partial


def window_start(since: str | None, now: Any = None) -> str | None:
    """``--since``: a duration back from now (``30d``, ``12h``) or an RFC 3339 instant, as the log's time text."""
    import datetime as dt

    from chamberlain.audit.storage.reader import normalise_time
    from chamberlain.audit.write.entry import timestamp
    from chamberlain.durations import parse_duration

    if since is None:
        return None
    text = since.strip()
    if text[-1:] == "d" and text[:-1].isdigit():
        text = f"{int(text[:-1]) * 24}h"
    try:
        seconds = parse_duration(text, positive=True)
    except ValueError:
        try:
            return normalise_time(since, "since")
        except Error as exc:
            fail(f"--since {since!r}: expected a duration (30d, 12h) or an RFC 3339 time ({exc})")
    start = (now or dt.datetime.now(dt.UTC)) - dt.timedelta(seconds=seconds)
    return timestamp(start)


@app.command("usage")
def usage_command(
    policies: Policies,
    db: Annotated[
        str,
        typer.Option(
            "--db", help="The decision log: sqlite:///PATH or postgresql://...", envvar="CHAMBERLAIN_AUDIT_DB"
        ),
    ],
    since: Annotated[
        str | None, typer.Option("--since", help="The window: 30d, 12h, or an RFC 3339 time.")
    ] = None,
    agents: Annotated[Path | None, typer.Option("--agents", help="The agents registry (agentsFile).")] = None,
    propose: Annotated[
        Path | None, typer.Option("--propose", help="Write least-privilege proposals and their tests here.")
    ] = None,
    as_json: Json = False,
    timeout: Timeout = 600.0,
) -> None:
    """Granted (the vault map) against used (allowed decisions in the log) per principal and agent."""
    from chamberlain.analysis import Budget, build_map, policy_targets
    from chamberlain.analysis.logsubjects import log_subjects
    from chamberlain.analysis.subjects import registry_subjects
    from chamberlain.analysis.usage import observed_uses, usage_report

    pdp = load_pdp(policies)
    registry = _registry(agents)
    start = window_start(since)
    with open_reader(db) as reader:
        found = log_subjects(reader, registry)
        subjects = [s for s in found.items if s.principal_id is not None]
        if registry is not None:
            subjects += registry_subjects(registry)
        with progress_bar("mapping") as progress:
            vault = build_map(
                pdp.engine,
                subjects,
                policy_targets(pdp.policies),
                budget=Budget(seconds=timeout, progress=progress),
            )
        uses = observed_uses(reader.db, start)
        reports = usage_report(vault, uses)
        written = _write_proposals(propose, pdp, reader, reports, vault, start) if propose is not None else []
    if as_json:
        typer.echo(
            json.dumps(
                {
                    "since": start,
                    "complete": vault.complete,
                    "stopped": vault.stopped,
                    "subjects": [r.to_json() for r in reports],
                    "proposals": written,
                },
                indent=2,
                ensure_ascii=False,
            )
        )
    else:
        _print_usage(reports, start, written)
    if not vault.complete:
        raise typer.Exit(USAGE)  # the budget ran out: the answer printed is partial


def _print_usage(reports: list[Any], start: str | None, written: list[str]) -> None:
    from rich.console import Console
    from rich.table import Table

    from chamberlain.text import printable

    console = Console(width=200)
    console.print(f"window: since {start or 'the first entry'}")
    for report in reports:
        table = Table(
            title=printable(f"{report.subject}: {len(report.unused)} of {len(report.grants)} grants unused"),
            title_justify="left",
        )
        for column in ("resource", "action", "access", "uses", "last use"):
            table.add_column(column)
        for g in report.grants:
            table.add_row(
                printable(g["resource"]),
                printable(g["action"]),
                g["access"],
                str(g["uses"]),
                g["last_use"] or "never",
                style=None if g["uses"] else "red",
            )
        console.print(table)
    for path in written:
        console.print(f"proposal: {printable(path)}")


def _write_proposals(
    directory: Path, pdp: Any, reader: Any, reports: list[Any], vault: Any, start: str | None
) -> list[str]:
    from chamberlain.analysis.propose import dump, example_entries, principal_policy, test_suite

    subjects = {s.label: s for s in vault.subjects}
    written = []
    try:
        (directory / "tests").mkdir(parents=True, exist_ok=True)
        for report in reports:
            policy = principal_policy(pdp.policies, report)
            if policy is None:
                continue
            subject = subjects[report.subject]
            suite = test_suite(
                reader,
                report,
                subject.roles,
                None if subject.attr is None else dict(subject.attr),
                example_entries(reader.db, report.principal_id, start),
            )
            name = "".join(c if c.isalnum() else "_" for c in report.principal_id)
            path = directory / f"least_privilege_{name}.yaml"
            path.write_text(dump(policy), encoding="utf-8")
            (directory / "tests" / f"least_privilege_{name}_test.yaml").write_text(
                dump(suite), encoding="utf-8"
            )
            written.append(str(path))
    except OSError as exc:
        fail(f"cannot write proposals to {directory}: {exc}")
    except Error as exc:
        fail(str(exc))
    return written


@app.command("impact")
def impact_command(
    policies: Annotated[Path, typer.Option("--policies", help="The candidate policy directory.")],
    db: Annotated[
        str,
        typer.Option(
            "--db", help="The decision log: sqlite:///PATH or postgresql://...", envvar="CHAMBERLAIN_AUDIT_DB"
        ),
    ],
    since: Annotated[
        str | None, typer.Option("--since", help="The window: 30d, 12h, or an RFC 3339 time.")
    ] = None,
    current: Annotated[
        Path | None,
        typer.Option(
            "--current", help="The current policy directory: also list the vault map cells that change."
        ),
    ] = None,
    fail_on_change: Annotated[
        bool, typer.Option("--fail-on-change", help="Exit 1 when any decision flips.")
    ] = False,
    as_json: Json = False,
    timeout: Timeout = 600.0,
) -> None:
    """Replay the log's decisions against candidate policies: every decision that would flip."""
    from chamberlain.analysis import Budget
    from chamberlain.analysis.impact import verified_replay

    pdp = load_pdp(policies)
    start = window_start(since)
    with open_reader(db) as reader, progress_bar("replaying") as progress:
        try:
            impact = verified_replay(
                reader, pdp.engine, since=start, budget=Budget(seconds=timeout, progress=progress)
            )
        except Error as exc:
            fail(str(exc), FAILED)
    out = impact.to_json()
    if current is not None:
        out["mapChanges"] = map_changes(load_pdp(current), pdp, timeout)
    if as_json:
        typer.echo(json.dumps(out, indent=2, ensure_ascii=False))
    else:
        _print_impact(out)
    if not impact.complete:
        raise typer.Exit(USAGE)  # the budget ran out: the answer printed is partial
    if fail_on_change and impact.changed_count:
        raise typer.Exit(FAILED)


def map_changes(before_pdp: Any, after_pdp: Any, timeout: float) -> list[dict[str, Any]]:
    """The vault map cells (roles and derived roles) that differ between two policy sets."""
    from chamberlain.analysis import Budget, build_map, policy_subjects, policy_targets
    from chamberlain.cel.values import Timestamp

    now = Timestamp.now()
    subjects = {
        s.label: s for s in policy_subjects(before_pdp.policies) + policy_subjects(after_pdp.policies)
    }
    targets = {t.label: t for t in policy_targets(before_pdp.policies) + policy_targets(after_pdp.policies)}
    maps = [
        build_map(
            p.engine, list(subjects.values()), list(targets.values()), now=now, budget=Budget(seconds=timeout)
        )
        for p in (before_pdp, after_pdp)
    ]
    old = {(c.subject, c.target, c.action): c for c in maps[0].cells}
    changes = []
    for c in maps[1].cells:
        was = old.get((c.subject, c.target, c.action))
        if was is not None and (was.access, was.conditions) != (c.access, c.conditions):
            changes.append(
                {
                    "subject": c.subject,
                    "resource": c.target,
                    "action": c.action,
                    "before": was.to_json(),
                    "after": c.to_json(),
                }
            )
    return changes


def _print_impact(out: dict[str, Any]) -> None:
    from chamberlain.text import printable

    typer.echo(f"replayed {out['replayed']} decisions; {out['changedCount']} would change")
    for g in out["groups"]:
        examples = ", ".join(f"#{i}" for i in g["examples"])
        typer.echo(
            printable(
                f"  {g['count']:6d}  {g['principal']} {g['action']}: {g['before']} → {g['after']} "
                f"({g['policy']}; e.g. {examples})"
            )
        )
    for reason, count in sorted(out["notReplayable"].items()):
        typer.echo(printable(f"not replayable: {count} ({reason})"))
    for change in out.get("mapChanges", []):
        typer.echo(
            printable(
                f"map: {change['subject']} {change['action']} {change['resource']}: "
                f"{change['before']['access']} → {change['after']['access']}"
            )
        )
