"""``chamberlain audit``: verify, head, prove, show, search, replay and export a decision log."""

from __future__ import annotations

import contextlib
import json
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any

import typer

from chamberlain.errors import Error
from chamberlain.exits import FAILED, fail
from chamberlain.files import MAX_CONFIG_BYTES, FileRefused, read_text_bounded
from chamberlain.text import block, printable

DEFAULT_DB = "sqlite:///.chamberlain/decisions.db"
_DB_HELP = "The decision log: sqlite:///PATH or postgresql://... (env CHAMBERLAIN_AUDIT_DB)."

app = typer.Typer(add_completion=False, no_args_is_help=True, help="Read, prove and verify the decision log.")
Db = Annotated[str, typer.Option("--db", help=_DB_HELP, envvar="CHAMBERLAIN_AUDIT_DB")]
Json = Annotated[bool, typer.Option("--json", help="Print JSON.")]


@contextlib.contextmanager
def _reader(url: str, *, writable: bool = False) -> Iterator[Any]:
    from chamberlain.audit.storage.reader import AuditReader
    from chamberlain.store.db import open_database

    try:
        db = open_database(url, create=False, readonly=not writable)
    except Error as exc:
        fail(str(exc))
    try:
        yield AuditReader(db)
    except Error as exc:
        fail(str(exc))
    finally:
        db.close()


def _print_json(value: Any) -> None:
    typer.echo(json.dumps(value, indent=2, ensure_ascii=False))


@app.command("verify")
def verify_command(
    db: Db = DEFAULT_DB,
    trusted_head: Annotated[
        Path | None,
        typer.Option(
            "--trusted-head",
            help="A head you trust (the JSON of "
            "`audit head --json`, or a checkpoint note): the log must extend it.",
        ),
    ] = None,
    max_unsigned_age: Annotated[
        float,
        typer.Option("--max-unsigned-age", help="Seconds entries may wait for a signed head (0: any age)."),
    ] = 300.0,
    keys_file: Annotated[
        Path | None,
        typer.Option(
            "--keys", help="A key set: the log keys (with validity windows) and witness keys to trust."
        ),
    ] = None,
    witness_keys: Annotated[
        list[str] | None, typer.Option("--witness-key", help="A witness's key to trust (repeatable).")
    ] = None,
    require_witnesses: Annotated[
        int,
        typer.Option(
            "--require-witnesses", help="Fail unless N distinct trusted witnesses cosigned the head."
        ),
    ] = 0,
    as_json: Json = False,
) -> None:
    """Recompute every hash, the tree and every signed head; exit 0 when intact, 1 on any tamper."""
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn

    from chamberlain.audit.tools.verify import TrustedHead, verify

    trusted = None
    if trusted_head is not None:
        try:
            trusted = TrustedHead.parse(read_text_bounded(trusted_head, MAX_CONFIG_BYTES, "trusted head"))
        except FileRefused as exc:
            fail(f"cannot read trusted head {trusted_head}: {exc}")
        except Error as exc:
            fail(f"{trusted_head}: {exc}")
    keys = _key_set(keys_file, witness_keys or [])
    console = Console(stderr=True)
    with (
        _reader(db) as reader,
        Progress(
            "verifying",
            BarColumn(),
            MofNCompleteColumn(),
            TimeRemainingColumn(),
            console=console,
            transient=True,
            disable=not console.is_terminal,
        ) as progress,
    ):
        task = progress.add_task("verify", total=None)
        try:
            report = verify(
                reader.db,
                trusted=trusted,
                max_unsigned_age=max_unsigned_age or None,
                keys=keys,
                require_witnesses=require_witnesses,
                progress=lambda done, total: progress.update(task, completed=done, total=total),
            )
        except Error as exc:
            fail(str(exc))
    if as_json:
        _print_json(report.to_json())
    elif report.ok:
        typer.echo(
            f"intact: {report.size} entries, {report.heads} signed heads verified, root {report.root.hex()}"
        )
    else:
        typer.echo(f"TAMPERED: {printable(report.problem)}")
    if not as_json:
        for e in report.erasures:
            typer.echo(
                f"erased: entry #{e['seq']} by {printable(str(e['by']))} at {e['time']} erased the content "
                f"of {e['count']} entries ({e['selector']})"
            )
        if report.erased:
            typer.echo(
                f"erased: {report.erased} entries in all (their leaves, the tree and every proof are intact)"
            )
        if report.legacy:
            typer.echo(f"note: {report.legacy} entries are in format 1 (not replayable, not erasable)")
        if len(report.keys) > 1:
            typer.echo(f"keys: {len(report.keys)} signing keys (rotated), newest {report.keys[-1]}")
        if report.witnessed:
            typer.echo(f"witnessed: the latest head is cosigned by {', '.join(report.witnessed)}")
        for note in report.notes:
            typer.echo(printable(f"note: {note}"))
    raise typer.Exit(0 if report.ok else 1)


def _key_set(path: Path | None, witness_keys: list[str]) -> Any:
    from chamberlain.audit.tlog.note import NoteError
    from chamberlain.audit.tools.keyset import KeySet
    from chamberlain.audit.tools.witness.cosignature import CosignerKey

    if path is None and not witness_keys:
        return None
    keys = KeySet()
    if path is not None:
        try:
            keys = KeySet.parse(path.read_text(), str(path))
        except OSError as exc:
            fail(f"cannot read key set {path}: {exc.strerror or exc}")
        except Error as exc:
            fail(str(exc))
    for text in witness_keys:
        try:
            keys.witnesses.append(CosignerKey.parse(text))
        except NoteError as exc:
            fail(f"--witness-key: {exc}")
    return keys


@app.command("head")
def head_command(
    db: Db = DEFAULT_DB,
    as_json: Json = False,
    sign: Annotated[
        bool, typer.Option("--sign", help="Sign a new head over the whole log first (needs the key).")
    ] = False,
    key: Annotated[
        Path | None, typer.Option("--key", help="The signing key file (default: beside a SQLite log).")
    ] = None,
) -> None:
    """The latest signed tree head (a C2SP checkpoint) and the key that verifies it."""
    if sign:
        _sign_head(db, key)
    with _reader(db) as reader:
        head = reader.head()
        if head is None:
            fail("the log has no signed head yet")
        out = head.to_json(reader.verifier_key)
        size = reader.tree_size()
    if as_json:
        _print_json(out)
        return
    typer.echo(out["checkpoint"], nl=False)
    typer.echo(f"verifier key: {out['verifier_key']}")
    if size > head.size:
        typer.echo(f"note: {size - head.size} entries were appended after this head")


def _sign_head(db: str, key: Path | None) -> None:
    from chamberlain.audit.log import DecisionLog, LogOptions

    try:
        log = DecisionLog.open(db, LogOptions(key_file=key, create_key=False))
    except Error as exc:
        fail(str(exc))
    try:
        if log.sign_head() is None:
            fail("only the sequencer can sign a head on PostgreSQL; another replica holds that role")
    except Error as exc:
        fail(str(exc))
    finally:
        log.close()


@app.command("prove")
def prove_command(
    db: Db = DEFAULT_DB,
    index: Annotated[
        int | None, typer.Option("--index", help="Prove that entry INDEX is in the log.")
    ] = None,
    size: Annotated[
        int | None, typer.Option("--size", help="Against this tree size (default: the latest head).")
    ] = None,
    first: Annotated[int | None, typer.Option("--from", help="Consistency: the older tree size.")] = None,
    second: Annotated[
        int | None, typer.Option("--to", help="Consistency: the newer tree size (default: latest head).")
    ] = None,
    as_json: Json = False,
) -> None:
    """An RFC 9162 inclusion proof (--index) or consistency proof (--from M --to N)."""
    if (index is None) == (first is None):
        fail("give --index I (inclusion) or --from M [--to N] (consistency)")
    with _reader(db) as reader:
        proof = reader.inclusion(index, size) if index is not None else reader.consistency(first, second)
        out = proof.to_json()
    if as_json:
        _print_json(out)
        return
    for name, value in out.items():
        if isinstance(value, list):
            typer.echo(f"{name}:")
            for item in value:
                typer.echo(f"  {item}")
        else:
            typer.echo(f"{name}: {value}")


@app.command("show")
def show_command(
    seq: Annotated[list[int], typer.Argument(help="Entry sequence numbers.")], db: Db = DEFAULT_DB
) -> None:
    """Print entries as JSON; one that no longer matches its leaf gets ``"tampered"`` and exit 1."""
    entries = []
    with _reader(db) as reader:
        for n in seq:
            entry = reader.entry(n)
            if entry is None:
                fail(f"no entry {n} (the log has {reader.tree_size()} entries)")
            entries.append(entry)
        tampered = _mark_tampered(reader, entries)
    for entry in entries:
        _print_json(entry)
    _end_if_tampered(entries, tampered)


def _mark_tampered(reader: Any, entries: list[dict[str, Any]]) -> list[int]:
    from chamberlain.audit.tools.integrity import mark

    return mark(reader.db, entries, legacy=reader.legacy)


def _end_if_tampered(entries: list[dict[str, Any]], tampered: list[int]) -> None:
    """Say on stderr which entries were edited (run ``audit verify`` for the whole log), and exit 1."""
    if not tampered:
        return
    for entry in entries:
        if entry.get("seq") in tampered:
            typer.echo(
                block(f"TAMPERED: entry {entry['seq']}: {entry['tampered']} (run audit verify)"), err=True
            )
    raise typer.Exit(FAILED)


def _filter(**kw: Any) -> Any:
    from chamberlain.audit.storage.reader import Filter

    resource = kw.pop("resource")
    if resource:
        kind, _, rid = resource.partition(":")
        kw["resource_kind"], kw["resource_id"] = kind, rid or None
    return Filter(**kw)


@app.command("search")
def search_command(
    db: Db = DEFAULT_DB,
    session: Annotated[str | None, typer.Option("--session", help="Session id.")] = None,
    principal: Annotated[str | None, typer.Option("--principal", help="Subject principal id.")] = None,
    actor: Annotated[
        str | None, typer.Option("--actor", help="An actor anywhere in the actor chain.")
    ] = None,
    resource: Annotated[str | None, typer.Option("--resource", help="KIND or KIND:ID.")] = None,
    action: Annotated[str | None, typer.Option("--action")] = None,
    effect: Annotated[str | None, typer.Option("--effect", help="allow or deny.")] = None,
    since: Annotated[str | None, typer.Option("--since", help="RFC 3339 time (inclusive).")] = None,
    until: Annotated[str | None, typer.Option("--until", help="RFC 3339 time (exclusive).")] = None,
    after: Annotated[int, typer.Option("--after", help="Only entries after this sequence number.")] = -1,
    limit: Annotated[int, typer.Option("--limit")] = 100,
    as_json: Json = False,
) -> None:
    """Find entries (by session, principal, actor, resource, action, effect, time); JSON Lines with --json."""
    from chamberlain.audit.storage.reader import MAX_LIMIT
    from chamberlain.audit.tools.timeline import summary

    if not 1 <= limit < MAX_LIMIT:
        fail(f"--limit must be between 1 and {MAX_LIMIT - 1}, got {limit}")
    f = _filter(
        session_id=session,
        principal=principal,
        actor=actor,
        resource=resource,
        action=action,
        effect=effect,
        since=since,
        until=until,
        after=after,
        limit=limit + 1,
    )
    with _reader(db) as reader:
        entries = reader.search(f)
        tampered = _mark_tampered(reader, entries[:limit])
    for entry in entries[:limit]:
        typer.echo(json.dumps(entry, ensure_ascii=False) if as_json else summary(entry))
    if len(entries) > limit:  # one more than asked for: say how to get the next page
        typer.echo(
            f"more entries match: add --after {entries[limit - 1]['seq']} for the next {limit}", err=True
        )
    _end_if_tampered(entries[:limit], tampered)


@app.command("replay")
def replay_command(
    session: Annotated[str, typer.Argument(help="The session id.")],
    db: Db = DEFAULT_DB,
    as_json: Json = False,
) -> None:
    """A session's actions in order, as a timeline with each decision and its basis."""
    from chamberlain.audit.storage.reader import MAX_LIMIT, Filter
    from chamberlain.audit.tools.timeline import timeline

    entries: list[dict[str, Any]] = []
    with _reader(db) as reader:
        while True:
            page = reader.search(
                Filter(session_id=session, after=entries[-1]["seq"] if entries else -1, limit=MAX_LIMIT)
            )
            entries.extend(page)
            if len(page) < MAX_LIMIT:
                break
        tampered = _mark_tampered(reader, entries)
    if as_json:
        _print_json(entries)
    else:
        for line in timeline(session, entries):
            typer.echo(line)
    _end_if_tampered(entries, tampered)


@app.command("export")
def export_command(
    db: Db = DEFAULT_DB,
    start: Annotated[int, typer.Option("--from", help="First sequence number.")] = 0,
    end: Annotated[int | None, typer.Option("--to", help="Stop before this sequence number.")] = None,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write here instead of stdout.")
    ] = None,
    fmt: Annotated[
        str | None,
        typer.Option(
            "--format",
            help="leaf: each line a leaf's exact bytes (the default); record: the entry "
            "with its content, seq and leaf_hash (the default with --follow, --cursor, --otlp).",
        ),
    ] = None,
    follow: Annotated[
        bool, typer.Option("--follow", "-f", help="Keep exporting new entries until stopped.")
    ] = False,
    cursor: Annotated[
        str | None,
        typer.Option("--cursor", help="Resume from, and persist, this named cursor in the log's database."),
    ] = None,
    otlp: Annotated[
        str | None,
        typer.Option("--otlp", help="Send OTLP logs to this collector (http://host:4318/v1/logs)."),
    ] = None,
    otlp_protocol: Annotated[
        str, typer.Option("--otlp-protocol", help="http/protobuf, http/json or grpc.")
    ] = "http/protobuf",
    otlp_header: Annotated[
        list[str] | None,
        typer.Option("--otlp-header", help="NAME=VALUE sent with each OTLP request (repeatable)."),
    ] = None,
) -> None:
    """Export entries as JSON Lines (or OTLP logs): each leaf's bytes, or records a SIEM can prove against the log."""
    records = fmt == "record" or (fmt is None and (follow or cursor or otlp))
    if fmt not in (None, "leaf", "record"):
        fail(f"--format must be leaf or record, not {fmt!r}")
    if not records and (follow or cursor or otlp):
        fail("--follow, --cursor and --otlp export records: leave out --format leaf")
    if records:
        _export_records(db, start, end, output, follow, cursor, otlp, otlp_protocol, otlp_header or [])
        return
    with _reader(db) as reader:
        try:
            sink = output.open("wb") if output is not None else sys.stdout.buffer
        except OSError as exc:
            fail(f"cannot write {output}: {exc.strerror or exc}")
        try:
            for body in reader.export(start, end):
                sink.write(body + b"\n")
            sink.flush()
        except BrokenPipeError:
            os._exit(0)  # `| head`: the reader went away
        finally:
            if output is not None:
                sink.close()


def _export_records(
    db: str,
    start: int,
    end: int | None,
    output: Path | None,
    follow: bool,
    cursor: str | None,
    otlp: str | None,
    protocol: str,
    headers: list[str],
) -> None:
    import signal

    from chamberlain.audit.tools.export import ExportConfig, Exporter
    from chamberlain.store import parse_url

    pairs = [h.partition("=") for h in headers]
    if any(not name or not sep for name, sep, _ in pairs):
        fail("--otlp-header: expected NAME=VALUE")
    with _reader(db) as reader:
        origin = reader.origin
    try:
        config = ExportConfig(
            name=cursor or "cli",
            jsonl="" if otlp else str(output or "-"),
            otlp_endpoint=otlp or "",
            otlp_protocol=protocol,
            headers={n: v for n, _, v in pairs},
        )
        exporter = Exporter(
            parse_url(db), config, origin, start_at=start, stop_at=end, persist=cursor is not None
        )
    except Error as exc:
        fail(str(exc))
    signal.signal(signal.SIGTERM, lambda *_: exporter.request_stop())
    try:
        exporter.run(follow=follow)
    except KeyboardInterrupt:
        pass
    except BrokenPipeError:
        os._exit(0)
    finally:
        exporter.stop(0)
    if exporter.stats.last_error and not follow:
        fail(exporter.stats.last_error)


@app.command("erase")
def erase_command(
    db: Db = DEFAULT_DB,
    principal: Annotated[
        str | None, typer.Option("--principal", help="Erase every entry whose principal or any actor is ID.")
    ] = None,
    before: Annotated[
        str | None, typer.Option("--before", help="Erase entries older than this RFC 3339 time.")
    ] = None,
    entry: Annotated[list[int] | None, typer.Option("--entry", help="Erase this entry (repeatable).")] = None,
    by: Annotated[str, typer.Option("--by", help="Who erases (recorded in the erasure entry).")] = "",
    reason: Annotated[str, typer.Option("--reason", help="Why (recorded, erasable itself).")] = "",
    key: Annotated[
        Path | None, typer.Option("--key", help="The signing key file (default: beside a SQLite log).")
    ] = None,
    as_json: Json = False,
) -> None:
    """Erase entries' content (who, attributes, arguments), keeping every leaf, head and proof valid.

    Whole calls are erased (the entries that share a request record). The erasure is itself an
    entry (who, when, which entries) and a head is signed over it.
    """
    from chamberlain.audit.log import DecisionLog, LogOptions

    if sum(bool(x) for x in (principal, before, entry)) != 1:  # an empty id names nothing
        fail("name what to erase: exactly one of --principal ID, --before TIME or --entry SEQ")
    try:
        log = DecisionLog.open(db, LogOptions(key_file=key, create_key=False))
    except Error as exc:
        fail(str(exc))
    try:
        result = log.erase(principal=principal, before=before, seqs=entry or None, by=by, reason=reason)
    except Error as exc:
        fail(str(exc))
    finally:
        log.close()
    out = result.to_json()
    if as_json:
        _print_json(out)
        return
    if not result.erased:
        typer.echo(
            "nothing to erase: no entry with content matches"
            + (f" ({result.legacy} format 1 entries match but cannot be erased)" if result.legacy else "")
        )
        return
    typer.echo(
        f"erased the content of {len(result.erased)} entries (erasure entry #{result.entry}); {result.wiped}"
    )
    if result.legacy:
        typer.echo(
            f"note: {result.legacy} format 1 entries match but cannot be erased (their content is their leaf)"
        )


@app.command("rotate-key")
def rotate_key_command(
    db: Db = DEFAULT_DB,
    key: Annotated[
        Path | None,
        typer.Option(
            "--key", help="The signing key file (default: beside a SQLite log); the new key is added to it."
        ),
    ] = None,
    by: Annotated[str, typer.Option("--by", help="Who rotates (recorded in the rotation entry).")] = "",
    reason: Annotated[str, typer.Option("--reason", help="Why (recorded).")] = "",
    as_json: Json = False,
) -> None:
    """Rotate the log's signing key: a new key of the same name, vouched for by the old one.

    The new key is appended to the key file; a rotation entry is appended to the log and a head over
    it is signed by both keys; heads after it are signed by the new key. Give the updated key file to
    every replica (they read it again when the log names a key they do not hold) and the new
    verifier key to the witnesses (before rotating) and to whoever verifies with a key set.
    """
    from chamberlain.audit.log import DecisionLog, LogOptions

    try:
        log = DecisionLog.open(db, LogOptions(key_file=key, create_key=False))
    except Error as exc:
        fail(str(exc))
    try:
        result = log.rotate_key(by=by, reason=reason)
    except Error as exc:
        fail(str(exc))
    finally:
        log.close()
    if as_json:
        _print_json(result.to_json())
        return
    typer.echo(f"rotated: entry #{result.entry}; heads are now signed by {result.new_key}")
    typer.echo(f"previous key: {result.old_key} (it co-signed the head of size {result.head.size})")


@app.command("witness")
def witness_command(
    key: Annotated[
        Path, typer.Option("--key", help="The witness's signing key file (created when missing).")
    ],
    log_keys: Annotated[
        list[str] | None,
        typer.Option(
            "--log-key", help="A log's verifier key to witness (repeatable; the origin is its name)."
        ),
    ] = None,
    name: Annotated[str, typer.Option("--name", help="The witness's name for a new key.")] = "",
    listen: Annotated[str, typer.Option("--listen", help="HOST:PORT to serve on.")] = "127.0.0.1:7380",
    state: Annotated[
        Path | None,
        typer.Option(
            "--state", help="Where the latest checkpoints are kept (SQLite; default beside the key)."
        ),
    ] = None,
    print_key: Annotated[
        bool, typer.Option("--print-key", help="Print the witness's verifier key and exit.")
    ] = False,
) -> None:
    """A minimal C2SP tlog-witness: cosigns checkpoints of the given logs that are consistent with the last one."""
    from chamberlain.audit.tlog.note import NoteError, Verifier
    from chamberlain.audit.tools.witness import keyfile

    try:
        cosigner = keyfile.load_or_create(key, name)
    except Error as exc:
        fail(str(exc))
    if print_key:
        typer.echo(str(cosigner.key))
        return
    if not log_keys:
        fail("name the logs to witness: --log-key VERIFIER_KEY (repeatable)")
    try:
        verifiers = [Verifier.parse(k) for k in log_keys]
    except NoteError as exc:
        fail(f"--log-key: {exc}")
    host, _, port = listen.rpartition(":")
    if not port.isdigit():
        fail(f"--listen {listen!r}: expected HOST:PORT")
    from chamberlain.audit.tools.witness.server import serve

    try:
        serve(cosigner, verifiers, state or key.with_name(key.name + ".db"), host or "127.0.0.1", int(port))
    except Error as exc:
        fail(str(exc))
