"""The log's side of C2SP tlog-witness: each signed head sent to every configured witness, cosignatures kept.

For each head and witness, :class:`WitnessClient` POSTs ``add-checkpoint`` with the size the witness
last cosigned (learnt from the cosignatures stored, else 0, and corrected by a 409 answer) and the
consistency proof from it; a 200 answer's lines are checked with the witness's configured key
(other keys' lines are ignored) and stored in ``audit_cosignatures``. A witness that answers garbage,
an error or nothing is counted and logged; nothing it says is stored, and it never delays a check
(this runs on the publisher's thread, with its own database connection).
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass
from typing import Any

from chamberlain.audit.storage.heads import Head
from chamberlain.audit.storage.tree import TreeStore
from chamberlain.audit.tlog.merkle import ProofError, consistency_path
from chamberlain.audit.tlog.note import NoteError, split_note
from chamberlain.audit.tools.witness.cosignature import CosignerKey
from chamberlain.audit.tools.witness.protocol import parse_size, request_body
from chamberlain.audit.write.entry import timestamp as rfc3339
from chamberlain.errors import Error
from chamberlain.store.db import Database

log = logging.getLogger("chamberlain.audit")
MAX_ANSWER = 16 * 1024


@dataclass(frozen=True, slots=True)
class WitnessConfig:
    """A witness: its submission URL prefix and its cosigner key (``name+hash+base64(0x04 || key)``)."""

    url: str
    key: CosignerKey

    @classmethod
    def parse(cls, url: str, key: str) -> WitnessConfig:
        if not url.startswith(("http://", "https://")):
            raise NoteError(f"witness URL {url!r}: expected http:// or https://")
        return cls(url.rstrip("/"), CosignerKey.parse(key))


class WitnessError(Error):
    """A witness that refused the head or answered something unusable."""


def store_cosignature(db: Database, size: int, key: CosignerKey, ts: int, line: str) -> None:
    db.execute(
        "INSERT INTO audit_cosignatures (tree_size, witness, timestamp, line, received_at) VALUES (?, ?, ?, ?, ?) "
        "ON CONFLICT (tree_size, witness) DO NOTHING",
        (size, str(key), ts, line, rfc3339(dt.datetime.now(dt.UTC))),
    )


def cosignatures(db: Database, size: int) -> list[str]:
    """The stored cosignature lines on the head of ``size`` (none for a log older than witnesses)."""
    try:
        return [
            str(r[0])
            for r in db.rows(
                "SELECT line FROM audit_cosignatures WHERE tree_size = ? ORDER BY witness", (size,)
            )
        ]
    except Error:
        return []


class WitnessClient:
    """Sends heads to one witness over HTTP (``client``: an ``httpx.Client``)."""

    def __init__(self, config: WitnessConfig, client: Any):
        self.config = config
        self.client = client
        self.known: int | None = None  # the size the witness holds for this log, as far as we know

    def submit(self, db: Database, head: Head) -> None:
        """Get the witness's cosignature on ``head`` and store it; raises :class:`WitnessError`."""
        if self.known is None:
            self.known = int(
                db.value(
                    "SELECT max(tree_size) FROM audit_cosignatures WHERE witness = ?",
                    (str(self.config.key),),
                    0,
                )
            )
        if self.known > head.size:
            raise WitnessError(
                f"witness {self.config.url} has cosigned size {self.known}, more than this head "
                f"({head.size}): a newer head was published already"
            )
        for _ in range(2):
            old = self.known
            try:
                proof = consistency_path(TreeStore(db), old, head.size) if 0 < old < head.size else []
            except ProofError as exc:
                raise WitnessError(f"no consistency proof from {old} to {head.size}: {exc}") from None
            status, body = self._post(request_body(old, proof, head.note))
            if status == 409:
                try:
                    self.known = parse_size(body)
                except NoteError as exc:
                    raise WitnessError(f"witness {self.config.url} answered 409 with {exc}") from None
                if self.known > head.size:
                    raise WitnessError(
                        f"witness {self.config.url} holds a checkpoint of size {self.known}, larger "
                        f"than this log's head ({head.size}): the log was cut off or forked"
                    )
                continue
            if status != 200:
                text = body[:200].decode("utf-8", "replace").strip()
                raise WitnessError(
                    f"witness {self.config.url} refused the head of size {head.size}: {status} {text!r}"
                )
            self._keep(db, head, body)
            self.known = head.size
            return
        raise WitnessError(f"witness {self.config.url} keeps answering 409")

    def _post(self, body: bytes) -> tuple[int, bytes]:
        import httpx

        try:
            with self.client.stream(
                "POST",
                f"{self.config.url}/add-checkpoint",
                content=body,
                headers={"Content-Type": "text/plain; charset=utf-8"},
            ) as response:
                data = b""
                for chunk in response.iter_bytes():
                    data += chunk
                    if len(data) > MAX_ANSWER:
                        raise WitnessError(f"witness {self.config.url} answered more than {MAX_ANSWER} bytes")
                return response.status_code, data
        except httpx.HTTPError as exc:
            raise WitnessError(f"witness {self.config.url}: {type(exc).__name__}: {exc}") from None

    def _keep(self, db: Database, head: Head, body: bytes) -> None:
        text, _ = split_note(head.note)
        try:
            lines = body.decode().splitlines(keepends=True)
        except UnicodeDecodeError:
            raise WitnessError(f"witness {self.config.url} answered bytes that are not UTF-8") from None
        found = None
        for line in lines:
            try:
                ts = self.config.key.verify_line(line.rstrip("\n"), text)
            except NoteError as exc:
                raise WitnessError(f"witness {self.config.url}: {exc}") from None
            if ts is not None:
                found = (ts, line.rstrip("\n"))
        if found is None:
            raise WitnessError(
                f"witness {self.config.url} answered no cosignature by its key {self.config.key}"
            )
        with db.transaction():
            store_cosignature(db, head.size, self.config.key, found[0], found[1])
