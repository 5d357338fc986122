"""Loading a policy directory as Cerbos's disk store does, then validating the whole set.

Files: ``.yaml``, ``.yml`` and ``.json`` anywhere under the root, except hidden files and folders
(``.x``), ``testdata`` folders and test suites (``*_test.yaml``); JSON Schemas come from the root
``_schemas`` folder. Policies with ``disabled: true`` are left out. Every problem of every file is
collected and raised together as one :class:`~chamberlain.policy.errors.PolicyError`.

Reading is bounded (:class:`DirectoryLimits`): only regular files (a FIFO or a link to a device is
refused, never opened in a way that blocks), each at most ``max_file_bytes`` (checked before
reading), at most ``max_files`` files and ``max_total_bytes`` in all.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from chamberlain.files import FileRefused, describe_size, read_bounded, regular_size
from chamberlain.gcpause import paused
from chamberlain.policy import model as m
from chamberlain.policy.attribute_schemas import SCHEMAS_DIRECTORY, SchemaStore
from chamberlain.policy.decode import decode_policy
from chamberlain.policy.errors import Issue, PolicyError
from chamberlain.policy.policy_set import PolicySet
from chamberlain.policy.source import MAX_FILE_BYTES, read_documents
from chamberlain.policy.validate import Checker

SUPPORTED_EXTENSIONS = (".yaml", ".yml", ".json")
TESTDATA_DIRECTORY = "testdata"


@dataclass(frozen=True, slots=True)
class DirectoryLimits:
    """How much of a policy directory is read at most (far above real policy sets; each a clear error)."""

    max_files: int = 20_000
    max_total_bytes: int = 64 << 20
    max_file_bytes: int = MAX_FILE_BYTES


def is_policy_file(name: str) -> bool:
    """A file name Cerbos reads as a policy: a YAML/JSON file that is not hidden nor a test suite."""
    lower = name.lower()
    ext = os.path.splitext(lower)[1]
    return (
        ext in SUPPORTED_EXTENSIONS and not name.startswith(".") and not lower[: -len(ext)].endswith("_test")
    )


def policy_files(root: Path) -> tuple[list[str], list[Issue]]:
    """The policy files under ``root`` (relative, ``/``-separated, sorted) and misplaced ``_schemas``."""
    found: list[str] = []
    issues: list[Issue] = []
    for directory, dirs, files in os.walk(root):
        rel_dir = os.path.relpath(directory, root)
        rel_dir = "" if rel_dir == "." else rel_dir.replace(os.sep, "/")
        keep = []
        for d in sorted(dirs):
            if d.startswith(".") or d == TESTDATA_DIRECTORY:
                continue
            if d == SCHEMAS_DIRECTORY:
                if rel_dir:
                    issues.append(
                        Issue(
                            f"{rel_dir}/{d}",
                            "load failure",
                            "a _schemas folder is only read at the top of the policy directory: move it there",
                        )
                    )
                continue
            keep.append(d)
        dirs[:] = keep
        found.extend(f"{rel_dir}/{f}" if rel_dir else f for f in files if is_policy_file(f))
    return sorted(found), issues


def load_directory(
    path: str | os.PathLike[str], *, schemas: bool = True, limits: DirectoryLimits = DirectoryLimits()
) -> PolicySet:
    """Load, validate and index every policy under ``path``; raise ``PolicyError`` with all problems."""
    root = Path(path)
    if not root.is_dir():
        raise PolicyError(
            [Issue(str(root), "load failure", "policy directory does not exist or is not a directory")]
        )
    names, issues = policy_files(root)
    if len(names) > limits.max_files:
        raise PolicyError(
            [
                Issue(
                    str(root),
                    "load failure",
                    f"more than {limits.max_files} policy files ({len(names)}): split the policy set or raise the limit",
                )
            ]
        )
    files: list[tuple[str, bytes]] = []
    total = 0
    for name in names:
        try:
            total += regular_size(root / name)  # the sizes first: nothing is read from an oversized set
        except FileRefused as exc:
            issues.append(Issue(name, "load failure", str(exc)))
        if total > limits.max_total_bytes:
            raise PolicyError(
                [
                    Issue(
                        str(root),
                        "load failure",
                        f"more than {describe_size(limits.max_total_bytes)} of policy files: split the policy set or raise the limit",
                    )
                ]
            )
    for name in names:
        try:
            files.append((name, read_bounded(root / name, limits.max_file_bytes, "policy file")))
        except FileRefused as exc:
            if not any(i.file == name for i in issues):
                issues.append(Issue(name, "load failure", str(exc)))
    store = SchemaStore.from_directory(root / SCHEMAS_DIRECTORY) if schemas else None
    return _build(files, store, issues)


def load_documents(
    files: Mapping[str, bytes | str] | Iterable[tuple[str, bytes | str]],
    schemas: Mapping[str, bytes | str] | None = None,
) -> PolicySet:
    """Load policies from memory: ``files`` maps a file name to its YAML/JSON text.

    ``schemas`` maps paths under ``_schemas`` (``principal.json``) to JSON Schema text; without it,
    schema references are not checked.
    """
    items = files.items() if isinstance(files, Mapping) else files
    encoded = [(name, data.encode() if isinstance(data, str) else data) for name, data in items]
    store = None
    if schemas is not None:
        store = SchemaStore()
        for name, data in schemas.items():
            store.add(name, data.encode() if isinstance(data, str) else data)
    return _build(encoded, store, [])


def _build(files: list[tuple[str, bytes]], store: SchemaStore | None, issues: list[Issue]) -> PolicySet:
    with paused():  # many objects made, none of them cyclic garbage: see chamberlain.gcpause
        return _build_set(files, store, issues)


def _build_set(files: list[tuple[str, bytes]], store: SchemaStore | None, issues: list[Issue]) -> PolicySet:
    policies: list[m.Policy] = []
    disabled: list[str] = []
    files_by_key: dict[str, str] = {}
    for name, data in files:
        docs, problems = read_documents(name, data)
        issues.extend(problems)
        for doc in docs:
            policy, problems = decode_policy(doc)
            issues.extend(problems)
            if policy is None or problems:
                continue
            if policy.disabled:
                disabled.append(name)
                continue
            if (other := files_by_key.get(policy.key)) is not None:
                pos = policy.pos
                issues.append(
                    Issue(
                        name,
                        "duplicate definition",
                        f"policy {policy.key!r} is already defined in {other}: remove one of them or change its name, version or scope",
                        pos.line,
                        pos.column,
                        "$",
                    )
                )
                continue
            files_by_key[policy.key] = name
            policies.append(policy)
    loader = store.problem if store is not None else None
    issues.extend(Checker(policies, loader).run())
    if issues:
        raise PolicyError(issues)
    return PolicySet(policies, store or SchemaStore(), disabled)
