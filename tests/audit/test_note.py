"""Signed notes and keys in Go's sumdb/note formats, checked against Go's and C2SP's published examples."""

from __future__ import annotations

import json

import pytest

from chamberlain.audit.tlog.note import Checkpoint, NoteError, Signer, Verifier, open_checkpoint, open_note
from tests.audit.support import VECTORS

NOTES = json.loads((VECTORS / "note.json").read_text())
GO = NOTES["golang_mod_sumdb_note"]


def test_go_signer_key_signs_exactly_as_go_does():
    signer = Signer.parse(GO["signer_key"])
    assert str(signer.verifier) == GO["verifier_key"]
    assert signer.sign(GO["text"]) == GO["signed_note"]
    assert signer.private_text() == GO["signer_key"]


def test_published_notes_verify():
    assert open_note(GO["signed_note"], Verifier.parse(GO["verifier_key"])) == GO["text"]
    c2sp = NOTES["c2sp_signed_note"]
    assert (
        open_note(c2sp["signed_note"], Verifier.parse(c2sp["verifier_key"]))
        == "This is an example message.\n"
    )


def test_real_world_verifier_key_parses():
    key = NOTES["go_sumdb_public_key"]["verifier_key"]
    verifier = Verifier.parse(key)
    assert (verifier.name, f"{verifier.id:08x}") == ("sum.golang.org", "033de0ae")
    assert str(verifier) == key


@pytest.mark.parametrize("key", GO["bad_verifier_keys"])
def test_malformed_verifier_keys_are_rejected(key):
    with pytest.raises(NoteError):
        Verifier.parse(key)


def test_mangled_verifier_key_is_rejected():
    key = GO["verifier_key"]
    for i in range(len(key)):
        mangled = key[:i] + chr(ord(key[i]) + 1) + key[i + 1 :]
        with pytest.raises(NoteError):
            Verifier.parse(mangled)


def test_tampered_note_and_unknown_key_are_rejected():
    verifier = Verifier.parse(GO["verifier_key"])
    with pytest.raises(NoteError, match="does not verify"):
        open_note(GO["signed_note"].replace("cryptography", "cryptographY"), verifier)
    other = Signer.generate("PeterNeumann")
    with pytest.raises(NoteError, match="not signed by"):
        open_note(GO["signed_note"], other.verifier)
    with pytest.raises(NoteError, match="no blank line"):
        open_note(GO["text"], verifier)


def test_checkpoint_roundtrip_and_origin_check():
    signer = Signer.generate("example.com/log")
    checkpoint = Checkpoint("example.com/log", 12, bytes(range(32)))
    note = signer.sign(checkpoint.text())
    assert note.startswith(
        "example.com/log\n12\nAAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\n\n\u2014 example.com/log "
    )
    assert open_checkpoint(note, signer.verifier) == checkpoint
    stranger = Signer.generate("example.com/other")
    with pytest.raises(NoteError, match="origin"):
        open_checkpoint(stranger.sign(checkpoint.text()), stranger.verifier)
    with pytest.raises(NoteError, match="tree size"):
        Checkpoint.parse("o\n012\nAAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\n")
