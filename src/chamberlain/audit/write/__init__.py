"""The write path: how a decision becomes a durable entry of the log, in the order it happens.

- ``recording``: the PDP's side: a check's entries submitted after deciding; failing closed when they
  cannot be recorded.
- ``decisions``, ``attributes``: a check's record (its request once, one entry per decided action) and
  the attributes its conditions read.
- ``entry``, ``content``, ``canonical``, ``ids``: the entry format: the public leaf, the erasable
  content it commits to by salted digests, RFC 8785 canonical JSON, call ids.
- ``writer``: group commit (a thread batching pending entries into one transaction).
- ``append``: sequence numbers, leaf hashes and tree nodes for a batch; ``sequencer``: the PostgreSQL
  replica that numbers them when several replicas write.
"""
