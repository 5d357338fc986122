"""The transparency log in itself: Merkle tree proofs (RFC 6962/9162) and signed notes (C2SP),
importing nothing of chamberlain but its error root."""
