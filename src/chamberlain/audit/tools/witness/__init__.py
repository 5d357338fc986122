"""Witnesses (C2SP tlog-witness): cosignatures on the log's checkpoints, from keys the log does not hold.

- :mod:`.cosignature`: ``cosignature/v1`` Ed25519 cosigner keys, signing and verifying (C2SP tlog-cosignature);
- :mod:`.protocol`: the ``add-checkpoint`` request and answers;
- :mod:`.client`: the log's side, publishing each signed head to configured witnesses and keeping
  their cosignatures (``audit_cosignatures``);
- :mod:`.server`: ``chamberlain audit witness``, a minimal witness persisting the latest checkpoint
  of each log it witnesses and refusing inconsistent ones.
"""
