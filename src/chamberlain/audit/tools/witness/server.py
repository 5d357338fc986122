"""``chamberlain audit witness``: a minimal C2SP tlog-witness.

It knows the logs it witnesses by their verifier keys (the origin is the key's name; several keys of
one origin are all trusted, as around a key rotation), keeps the latest checkpoint it cosigned for
each origin in a SQLite file, and answers

- ``POST /add-checkpoint``: checks the log's signature, that the old size is the one it holds, and
  the consistency proof from its checkpoint to the new one; then stores the new checkpoint and
  answers its ``cosignature/v1`` line. Check and update happen under one lock and in one
  transaction, so two requests cannot roll the stored size back. Statuses as the spec says: 400
  malformed, 403 no valid signature by a known key, 404 unknown origin, 409 old size mismatch (the
  body says the size it holds), 422 inconsistent;
- ``GET /<hex SHA-256 of the origin>/checkpoint``: the latest checkpoint with the log's signature
  and this witness's cosignature.

Every body is bounded (:data:`~chamberlain.audit.tools.witness.protocol.MAX_BODY`) and read within a deadline.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from chamberlain.asgi import respond
from chamberlain.audit.tlog.merkle import EMPTY_ROOT, ProofError, verify_consistency
from chamberlain.audit.tlog.note import Checkpoint, NoteError, Verifier, split_note
from chamberlain.audit.tools.witness.cosignature import Cosigner
from chamberlain.audit.tools.witness.protocol import MAX_BODY, SIZE_TYPE, parse_request
from chamberlain.store.db import Database, as_bytes

log = logging.getLogger("chamberlain.audit.witness")
READ_TIMEOUT = 10.0
_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS witness_checkpoints (origin TEXT PRIMARY KEY, size INTEGER NOT NULL, "
    "root BLOB NOT NULL, note TEXT NOT NULL, updated_at TEXT NOT NULL)"
)


@dataclass(frozen=True, slots=True)
class Answer:
    status: int
    body: bytes
    content_type: str = "text/plain; charset=utf-8"


def _text(status: int, message: str) -> Answer:
    return Answer(status, (message + "\n").encode())


class Witness:
    """The witness's logic over its state database (one request at a time)."""

    def __init__(self, cosigner: Cosigner, log_keys: list[Verifier], db: Database):
        self.cosigner = cosigner
        self.keys: dict[str, list[Verifier]] = {}
        for key in log_keys:
            self.keys.setdefault(key.name, []).append(key)
        self.db = db
        self._lock = threading.Lock()
        with db.transaction():
            db.execute(_SCHEMA)

    def add_checkpoint(self, body: bytes) -> Answer:
        try:
            request = parse_request(body)
            text, signatures = split_note(request.note)
            checkpoint = Checkpoint.parse(text)
        except NoteError as exc:
            return _text(400, f"malformed request: {exc}")
        keys = self.keys.get(checkpoint.origin)
        if keys is None:
            return _text(404, f"unknown log origin {checkpoint.origin!r}")
        verified = False
        for signature in signatures:
            for key in keys:
                if (signature.name, signature.id) == (key.name, key.id):
                    if not key.verify(text.encode(), signature.signature):
                        return _text(403, f"the signature by {key} does not verify")
                    verified = True
        if not verified:
            return _text(403, f"no signature by a known key of {checkpoint.origin!r}")
        if request.old > checkpoint.size:
            return _text(
                400, f"old size {request.old} is larger than the checkpoint's size {checkpoint.size}"
            )
        if checkpoint.size == 0 and checkpoint.root != EMPTY_ROOT:
            return _text(422, "a checkpoint of size 0 must have the empty tree's root hash")
        with self._lock, self.db.transaction():
            row = self.db.row(
                "SELECT size, root FROM witness_checkpoints WHERE origin = ?", (checkpoint.origin,)
            )
            size, root = (int(row[0]), as_bytes(row[1])) if row else (0, EMPTY_ROOT)
            if request.old != size:
                return Answer(409, f"{size}\n".encode(), SIZE_TYPE)
            problem = _inconsistent(request.old, root, checkpoint, request.proof)
            if problem:
                log.warning("refused an inconsistent checkpoint of %s: %s", checkpoint.origin, problem)
                return _text(422, problem)
            line = self.cosigner.cosign(text)
            self.db.execute(
                "INSERT INTO witness_checkpoints (origin, size, root, note, updated_at) VALUES (?, ?, ?, ?, ?) "
                "ON CONFLICT (origin) DO UPDATE SET size = excluded.size, root = excluded.root, "
                "note = excluded.note, updated_at = excluded.updated_at",
                (
                    checkpoint.origin,
                    checkpoint.size,
                    checkpoint.root,
                    request.note + line,
                    str(int(time.time())),
                ),
            )
        return Answer(200, line.encode())

    def checkpoint(self, origin_hash: str) -> Answer:
        for origin in self.keys:
            if hashlib.sha256(origin.encode()).hexdigest() == origin_hash:
                with self._lock:  # one connection, one thread at a time
                    row = self.db.row("SELECT note FROM witness_checkpoints WHERE origin = ?", (origin,))
                if row is not None:
                    return Answer(200, str(row[0]).encode())
        return _text(404, "no checkpoint cosigned for that log")


def _inconsistent(old: int, old_root: bytes, checkpoint: Checkpoint, proof: list[bytes]) -> str:
    if old == 0:
        return "a consistency proof from size 0 must be empty" if proof else ""
    if old == checkpoint.size:
        if proof:
            return "a consistency proof between equal sizes must be empty"
        return "" if old_root == checkpoint.root else "same size as the stored checkpoint, another root hash"
    try:
        verify_consistency(old, checkpoint.size, old_root, checkpoint.root, proof)
    except ProofError as exc:
        return f"not consistent with the checkpoint of size {old}: {exc}"
    return ""


class WitnessApp:
    """The witness as an ASGI app."""

    def __init__(self, witness: Witness):
        self.witness = witness

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            while (await receive())["type"] != "lifespan.shutdown":
                await send({"type": "lifespan.startup.complete"})
            await send({"type": "lifespan.shutdown.complete"})
            return
        if scope["type"] != "http":
            return
        path, method = scope["path"], scope["method"]
        if path == "/add-checkpoint" and method == "POST":
            try:
                body = await _read(receive)
            except TimeoutError:
                await _answer(send, _text(408, "timed out reading the request body"))
                return
            answer = (
                _text(413, "request body too large")
                if body is None
                else (await asyncio.to_thread(self.witness.add_checkpoint, body))
            )
        elif path.endswith("/checkpoint") and method == "GET" and path.count("/") == 2:
            answer = await asyncio.to_thread(self.witness.checkpoint, path[1:].split("/")[0])
        else:
            answer = _text(404, "not found: POST /add-checkpoint, GET /<origin hash>/checkpoint")
        await _answer(send, answer)


async def _answer(send: Any, answer: Answer) -> None:
    await respond(send, answer.status, answer.body, [(b"content-type", answer.content_type.encode())])


async def _read(receive: Any) -> bytes | None:
    chunks, size, more = [], 0, True
    deadline = time.monotonic() + READ_TIMEOUT
    while more:
        message = await asyncio.wait_for(receive(), max(0.01, deadline - time.monotonic()))
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > MAX_BODY:
            return None
        chunks.append(chunk)
        more = message.get("more_body", False)
    return b"".join(chunks)


def serve(cosigner: Cosigner, log_keys: list[Verifier], state: Path, host: str, port: int) -> None:
    """Run the witness on ``host:port`` until SIGINT/SIGTERM (uvicorn)."""
    import uvicorn

    from chamberlain.store.db import open_database
    from chamberlain.store.url import sqlite_url

    witness = Witness(cosigner, log_keys, open_database(sqlite_url(state)))
    print(
        f"chamberlain witness {cosigner.key} on http://{host}:{port}, witnessing "
        f"{', '.join(sorted(witness.keys))}",
        flush=True,
    )
    uvicorn.Server(
        uvicorn.Config(
            WitnessApp(witness),
            host=host,
            port=port,
            log_config=None,
            access_log=False,
            lifespan="on",
            timeout_keep_alive=30,
            limit_concurrency=256,
        )
    ).run()
