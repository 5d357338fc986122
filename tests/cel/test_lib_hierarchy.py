"""Cerbos's hierarchy type."""

from __future__ import annotations

import pytest

from chamberlain.cel.errors import EvaluationError
from chamberlain.cel.functions import REGISTRY
from chamberlain.cel.lib import hierarchy as hl
from chamberlain.cel.lib.hierarchy import Hierarchy, hierarchy
from chamberlain.cel.values import UInt, type_of


def h(text: str) -> Hierarchy:
    return hierarchy(text)


def test_construction():
    assert h("a.b.c") == hierarchy(["a", "b", "c"])
    assert hl.hierarchy_with_delimiter("a:b:c:d", ":") == h("a.b.c.d")
    assert hl.hierarchy_with_delimiter("aFOObFOOcFOOd", "FOO") == h("a.b.c.d")
    assert h("a.b.c.d") != h("a.b.c.d.e")
    assert hierarchy(h("a.b")) == h("a.b")
    assert hierarchy(("a",)) == h("a")


def test_edge_construction():
    assert h("").levels == ("",)
    assert h("a..b").levels == ("a", "", "b")
    assert hierarchy([]).levels == ()
    # Go's strings.Split with an empty separator splits into characters.
    assert hl.hierarchy_with_delimiter("abc", "").levels == ("a", "b", "c")
    assert hl.hierarchy_with_delimiter("", "").levels == ()


def test_construction_errors():
    with pytest.raises(EvaluationError, match="string slice"):
        hierarchy(["a", 1])
    with pytest.raises(EvaluationError, match="no such overload"):
        hierarchy(1)
    with pytest.raises(EvaluationError, match="no such overload"):
        hl.hierarchy_with_delimiter("a", 1)


def test_value_protocol():
    value = h("a.b.c.d")
    assert type_of(value).name == "cerbos.lib.hierarchy"
    assert value.cel_size() == 4
    assert value.cel_index(2) == "c"
    assert value.cel_to_string() == "a.b.c.d"
    assert hash(value) == hash(h("a.b.c.d"))


@pytest.mark.parametrize("index", [-1, 4])
def test_index_out_of_range(index):
    with pytest.raises(EvaluationError, match="index out of range"):
        h("a.b.c.d").cel_index(index)


@pytest.mark.parametrize("index", [UInt(1), 1.0, True, "1"])
def test_index_type(index):
    with pytest.raises(EvaluationError, match="unsupported index type"):
        h("a.b.c.d").cel_index(index)


@pytest.mark.parametrize(
    ("fn", "a", "b", "want"),
    [
        (hl.ancestor_of, "a.b", "a.b.c.d.e", True),
        (hl.ancestor_of, "a.b", "a.b", False),
        (hl.ancestor_of, "a.b.c.d", "a.b.c.d.e", True),
        (hl.ancestor_of, "x.y.c.d", "a.b.c.d.e", False),
        (hl.descendent_of, "a.b.c.d.e", "a.b", True),
        (hl.descendent_of, "a.b", "a.b", False),
        (hl.descendent_of, "x.b", "a.b", False),
        (hl.immediate_child_of, "a.b.c.d.e", "a.b.c.d", True),
        (hl.immediate_child_of, "a.b.c.d.e", "a.b.c", False),
        (hl.immediate_child_of, "a.b.c", "a.b", True),
        (hl.immediate_parent_of, "a.b.c.d", "a.b.c.d.e", True),
        (hl.immediate_parent_of, "a.b.c", "a.b.c.d.e", False),
        (hl.immediate_parent_of, "a.b", "a.b.c", True),
        (hl.sibling_of, "a.b.c", "a.b.d", True),
        (hl.sibling_of, "a.b.c", "x.b.d", False),
        (hl.sibling_of, "a.b.c.d", "a.b.d", False),
        (hl.sibling_of, "a", "b", True),
        (hl.sibling_of, "a.b", "a.b", True),
        (hl.overlaps, "a.b.c.d", "a.b.c.d", True),
        (hl.overlaps, "a.b.c.d", "a.b.c", True),
        (hl.overlaps, "a.b", "a.b.c.d", True),
        (hl.overlaps, "a.b.x", "a.b.c.d", False),
        (hl.overlaps, "a.b.c", "a.b.c.d.e", True),
    ],
)
def test_relations(fn, a, b, want):
    assert fn(h(a), h(b)) is want


@pytest.mark.parametrize(
    ("a", "b", "want"),
    [
        ("a.b.c.d", "a.b.c.d.e", ("a", "b", "c", "d")),
        ("a.b.c.d", "a.b.c.d", ("a", "b", "c")),
        ("a.b.c.d", "x.y.z", ()),
        ("foo.bar.baz", "foo.bar.qux", ("foo", "bar")),
        ("a", "a", ()),
    ],
)
def test_common_ancestors(a, b, want):
    assert hl.common_ancestors(h(a), h(b)).levels == want


def test_common_ancestors_of_empty_hierarchies_is_an_error():
    with pytest.raises(EvaluationError):
        hl.common_ancestors(hierarchy([]), hierarchy([]))


def test_relations_need_hierarchies():
    with pytest.raises(EvaluationError, match="no such overload"):
        hl.ancestor_of(h("a"), "a.b")


@pytest.mark.parametrize(
    "name",
    [
        "ancestorOf",
        "descendentOf",
        "immediateParentOf",
        "immediateChildOf",
        "siblingOf",
        "overlaps",
        "commonAncestors",
    ],
)
@pytest.mark.parametrize(
    ("operands", "message"),
    [
        ((h("a"), "a.b"), "no such overload"),  # the hierarchy refuses the argument
        (("a", h("a.b")), "no such overload"),  # a string receives the call, and refuses it
        ((["a"], ["a", "b"]), "no such overload: {name}"),  # a list has no such function at all
    ],
)
def test_every_relation_refuses_non_hierarchies_on_either_side(name, operands, message):
    """The texts are Cerbos's (tests/cel/test_cerbos_binary.py checks them against the binary)."""
    relation = REGISTRY[name].lookup(True, 1).fn
    with pytest.raises(EvaluationError) as raised:
        relation(*operands)
    assert str(raised.value) == message.format(name=name)


@pytest.mark.parametrize(
    "expr",
    [
        'hierarchy("a.b.c") == hierarchy(["a","b","c"])',
        'hierarchy("a:b:c", ":").size() == 3 && size(hierarchy("a.b")) == 2',
        'hierarchy("a.b").ancestorOf(hierarchy("a.b.c.d")) == true',
        'hierarchy("foo.bar.baz").commonAncestors(hierarchy("foo.bar.qux")) == hierarchy("foo.bar")',
        'hierarchy("a.b.c.d").descendentOf(hierarchy("a.b")) == true',
        'hierarchy("a.b.c").immediateChildOf(hierarchy("a.b")) && !hierarchy("a.b.c.d").immediateChildOf(hierarchy("a.b"))',
        'hierarchy("a.b").immediateParentOf(hierarchy("a.b.c")) && !hierarchy("a.b").immediateParentOf(hierarchy("a.b.c.d"))',
        'hierarchy("a.b.c").overlaps(hierarchy("a.b.c.d.e")) && !hierarchy("a.b.x").overlaps(hierarchy("a.b.c.d.e"))',
        'hierarchy("a.b.c").siblingOf(hierarchy("a.b.d"))',
        'hierarchy("a.b.c.d")[1] == "b"',
        'hierarchy("a.b.c.d") != hierarchy("a.b.c.d.e")',
        'type(hierarchy("a")) == cerbos.lib.hierarchy',
    ],
)
def test_compiled(expr):
    from chamberlain.cel import compile

    assert compile(expr).evaluate({}) is True


@pytest.mark.parametrize("expr", ['hierarchy("a.b")[2]', 'hierarchy("a.b")[1u]', "hierarchy([1])"])
def test_compiled_errors(expr):
    from chamberlain.cel import compile

    with pytest.raises(EvaluationError):
        compile(expr).evaluate({})
