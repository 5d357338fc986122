"""YAML from outside, read within bounds: alias expansion, self-reference and nesting checked first.

Composing a YAML document shares an aliased node, but everything that walks the result (decoding a
policy, converting attributes for CEL, writing JSON) expands it again: a 600-byte file of nested
aliases is hundreds of millions of nodes (the "billion laughs"), and an alias to the node that
contains it (``&a [*a]``) never ends. :func:`graph_problem` finds both, and nesting deeper than
:data:`MAX_DEPTH` (the walks recurse), in one pass over the distinct nodes; :func:`load` is
``yaml.safe_load`` (libyaml when available) with that check between composing and constructing.
"""

from __future__ import annotations

from typing import Any

import yaml

from chamberlain.errors import Error

_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
#: Nodes that aliases may add to a document once expanded (anchors reused a few times are far below).
MAX_ALIAS_EXPANSION = 100_000
#: Levels of nesting in a document (a policy's deepest condition trees are a few dozen).
MAX_DEPTH = 100


class YAMLRefused(Error):
    """A YAML document that is not read; the message says why and where."""


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.MappingNode):
        return [n for pair in node.value for n in pair]
    if isinstance(node, yaml.SequenceNode):
        return node.value
    return []


def _plain_tree(root: yaml.Node) -> bool:
    """Whether the document is a tree (no node reached twice: no alias) at most :data:`MAX_DEPTH` high.

    Most documents are, and then nothing is wrong with them; this walks them a level at a time, a
    few list and set operations per level, where :func:`graph_problem`'s full pass does Python work
    twice per node (which was a tenth of loading a large policy set).
    """
    seen: set[int] = set()
    level = [root]
    for _ in range(MAX_DEPTH):
        ids = set(map(id, level))
        if len(ids) < len(level) or not seen.isdisjoint(ids):
            return False  # shared nodes: the full pass measures what the aliases expand to
        seen |= ids
        below: list[yaml.Node] = []
        for node in level:
            if isinstance(node, yaml.MappingNode):
                for pair in node.value:
                    below += pair
            elif isinstance(node, yaml.SequenceNode):
                below += node.value
        if not below:
            return True
        level = below
    return False  # too deep: the full pass names the node at fault


def graph_problem(root: yaml.Node) -> tuple[yaml.Node, str] | None:
    """Why a composed document may not be walked (and the node at fault), or None.

    One pass over the distinct nodes (an aliased node is visited once), without recursion: the
    expanded size and height of every node, and whether an alias refers to a node containing it.
    A plain tree within the height limit (:func:`_plain_tree`) skips it.
    """
    if _plain_tree(root):
        return None
    done: dict[int, tuple[int, int]] = {}  # id(node) -> (expanded size, height)
    active: set[int] = set()
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:
        node, finished = stack.pop()
        key = id(node)
        if finished:
            active.discard(key)
            sizes = [done[id(c)] for c in _children(node)]
            height = 1 + max((h for _, h in sizes), default=0)
            if height > MAX_DEPTH:
                return node, f"invalid document: nested more than {MAX_DEPTH} levels deep"
            done[key] = (1 + sum(s for s, _ in sizes), height)
            continue
        if key in done:
            continue
        active.add(key)
        stack.append((node, True))
        for child in _children(node):
            if id(child) in active:
                return child, "invalid document: a YAML alias refers to a node that contains it"
            if id(child) not in done:
                stack.append((child, False))
    expanded = done[id(root)][0]
    if expanded - len(done) > MAX_ALIAS_EXPANSION:
        return root, (
            f"invalid document: its aliases expand to more than {MAX_ALIAS_EXPANSION} nodes beyond "
            "the document's own (a YAML alias bomb?): write the repeated parts out"
        )
    return None


def _refuse_bad_graph(node: yaml.Node, what: str) -> None:
    problem = graph_problem(node)
    if problem:
        where, message = problem
        mark = where.start_mark
        raise YAMLRefused(f"{what}: {message} (line {mark.line + 1}, column {mark.column + 1})")


def load(text: str, what: str = "YAML") -> Any:
    """The single YAML document in ``text`` as Python values (``yaml.safe_load``), checked by
    :func:`graph_problem` before it is constructed; raises :class:`YAMLRefused` or ``yaml.YAMLError``."""
    loader = _Loader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        _refuse_bad_graph(node, what)
        return loader.construct_document(node)
    finally:
        loader.dispose()


def load_all(text: str, what: str = "YAML") -> list[Any]:
    """Every document in ``text`` (``---`` separated), each checked as :func:`load` checks one."""
    loader = _Loader(text)
    documents = []
    try:
        while loader.check_node():
            node = loader.get_node()
            _refuse_bad_graph(node, what)
            documents.append(loader.construct_document(node))
    finally:
        loader.dispose()
    return documents


def syntax_error(text: str, exc: yaml.MarkedYAMLError) -> tuple[int, int, str]:
    """Where a YAML syntax error starts (1-based line and column) and what to do about it.

    A parser notices a mistake where it can no longer go on, often far below it: an unclosed quote
    swallows the lines that follow it, an unclosed bracket runs into the next key. This points at
    the quote or bracket that opened, naming the line where the parser stopped; other errors keep
    the parser's position.
    """
    problem, context = exc.problem or "", exc.context or ""
    stop = exc.problem_mark or exc.context_mark
    start = exc.context_mark
    if stop is None:
        return 0, 0, f"{' '.join(p for p in (context, problem) if p)}: fix the syntax"
    where = f"line {stop.line + 1}, column {stop.column + 1}"
    if "quoted scalar" in context and start is not None:
        return (
            start.line + 1,
            start.column + 1,
            f"a quoted string starts here and is not closed by {where}: add its closing quote",
        )
    if (
        ("flow sequence" in context or "flow mapping" in context)
        and start is not None
        and start.line < stop.line
    ):
        bracket = "[" if "sequence" in context else "{"
        closing = "]" if bracket == "[" else "}"
        return (
            start.line + 1,
            start.column + 1,
            (
                f"the '{bracket}' opened here is not closed by {where} ({problem}): "
                f"close it with '{closing}' or separate its items with ','"
            ),
        )
    opened = _multiline_quote_ending_at(text, stop)
    if opened is not None:
        return (
            opened.line + 1,
            opened.column + 1,
            (
                f"a quoted string starts here and runs on to {where}, where the parser failed ({problem}): "
                "is its closing quote missing?"
            ),
        )
    return stop.line + 1, stop.column + 1, f"{' '.join(p for p in (context, problem) if p)}: fix the syntax"


def _multiline_quote_ending_at(text: str, stop: Any) -> Any:
    """The start of a quoted scalar spanning several lines that closes on ``stop``'s line, if any."""
    end = getattr(stop, "index", None)
    if not isinstance(end, int) or end <= 0:
        return None
    found = None
    try:  # the text before the error only: it scans up to where the parser stopped, no further
        for token in yaml.scan(text[:end], Loader=yaml.SafeLoader):
            if isinstance(token, yaml.ScalarToken) and token.style in ('"', "'"):
                found = token
    except yaml.YAMLError:
        pass
    if found is None or found.start_mark.line == found.end_mark.line or found.end_mark.line != stop.line:
        return None
    return found.start_mark
