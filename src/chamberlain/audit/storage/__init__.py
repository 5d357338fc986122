"""What the log keeps and how it is read back: its tables (the same on SQLite and PostgreSQL), the
stored Merkle tree (``tree``), signed tree heads (``heads``) and the signing keys (``keys``), and the
reader (entries, search, heads, proofs). The hashing itself is :mod:`chamberlain.audit.tlog`'s.
"""
