"""Shared test support: the real Cerbos server harness (oracle for differential tests and peer for benchmarks)."""
