"""Cerbos's CEL functions: list sets, inIPAddrRange, now/timeSince, id and the path functions."""

from __future__ import annotations

import datetime as dt
import time

import pytest

from chamberlain.cel.errors import EvaluationError
from chamberlain.cel.lib import cerbos
from chamberlain.cel.values import Duration, Timestamp, UInt

NOW = dt.datetime(2021, 4, 22, 15, 5, 20, 21000, tzinfo=dt.UTC)


# ---------------------------------------------------------------- lists as sets


@pytest.mark.parametrize(
    ("a", "b", "want"),
    [
        ([1, 2, 3], [3, 5], True),
        ([1, 2, 3], [4, 5], False),
        (["1", "2", "3"], ["3", "5"], True),
        ([1], [1.0, 2], True),
        ([1.0, 2], [1], True),
        ([1, 2, 3, 4], [1.0, 5, 6, 7], True),
        ([], [1], False),
        ([True], [1], False),
        ([{"a": 1}], [{"a": 1.0}], True),
    ],
)
def test_has_intersection(a, b, want):
    assert cerbos._has_intersection(a, b) is want


@pytest.mark.parametrize(
    ("a", "b", "want"),
    [
        ([1, 2, 3], [2, 3, 5], [2, 3]),
        ([1, 2, 3], [4, 5], []),
        (["1", "2", "3"], ["3", "5"], ["3"]),
        ([1], [1.0, 2], [1]),
        ([1.0, 2], [1], [1]),
        ([1, 2, 3, 4], [1.0, 5, 6, 7], [1]),
        ([1.0, 5, 6, 7], [1, 2, 3, 4], [1.0]),
        ([[1], [2]], [[2]], [[2]]),
    ],
)
def test_intersect(a, b, want):
    got = cerbos.intersect(a, b)
    assert got == want
    assert [type(x) for x in got] == [type(x) for x in want]


def test_intersect_iterates_the_shorter_list():
    assert cerbos.intersect([2, 1, 3], [1.0, 2.0]) == [1.0, 2.0]
    assert type(cerbos.intersect([2, 1, 3], [1.0, 2.0])[0]) is float


@pytest.mark.parametrize(
    ("a", "b", "want"),
    [
        ([1, 2], [2, 3], False),
        ([[1], [2]], [[2], [3]], False),
        ([1, 2], [1, 2], True),
        ([[1], [2]], [[1], [2], [3]], True),
        ([1, 1], [1], True),
        ([], [1], True),
        ([1, 2], [1.0, 2], True),
        ([1.0, 2], [UInt(1), 2], True),
    ],
)
def test_is_subset(a, b, want):
    assert cerbos._is_subset(a, b) is want


@pytest.mark.parametrize(
    ("a", "b", "want"),
    [
        ([], [1], []),
        ([1], [], [1]),
        ([1], [1, 2, 3], []),
        ([1, 3, 5], [2, 4], [1, 3, 5]),
        ([1, 3, 5], [5, 3], [1]),
        ([1.0, 2, 3, 4], [1, 2, 3, 4], []),
        (["a", "b", "a"], ["b"], ["a", "a"]),
    ],
)
def test_except(a, b, want):
    assert cerbos.except_(a, b) == want


def test_set_functions_need_lists():
    with pytest.raises(EvaluationError, match="no such overload"):
        cerbos.intersect([1], "1")
    with pytest.raises(EvaluationError, match="no such overload"):
        cerbos._is_subset({}, [1])


def test_set_functions_with_nan():
    nan = float("nan")
    assert cerbos.except_([nan, 1], [nan]) == [pytest.approx(nan, nan_ok=True), 1]
    assert cerbos._has_intersection([nan], [nan]) is False


# ---------------------------------------------------------------- inIPAddrRange


@pytest.mark.parametrize(
    ("ip", "cidr", "want"),
    [
        ("192.168.0.5", "192.168.0.0/24", True),
        ("192.169.1.5", "192.168.0.0/24", False),
        ("2001:0db8:0000:0000:0000:0000:1000:0000", "2001:db8::/48", True),
        ("3001:0fff:0000:0000:0000:0000:0000:0000", "2001:db8::/48", False),
        ("192.168.0.5", "192.168.0.0/024", True),
        ("::ffff:192.168.0.5", "192.168.0.0/24", True),
        ("192.168.0.5", "::ffff:192.168.0.0/120", True),
        ("192.168.0.5", "2001:db8::/32", False),
        ("2001:db8::1", "10.0.0.0/8", False),
        ("10.1.2.3", "0.0.0.0/0", True),
    ],
)
def test_in_ip_addr_range(ip, cidr, want):
    assert cerbos.in_ip_addr_range(ip, cidr) is want


@pytest.mark.parametrize(
    ("ip", "cidr", "message"),
    [
        ("test", "192.168.0.0/24", "invalid IP address: test"),
        ("fe80::1%eth0", "fe80::/10", "invalid IP address"),
        ("10.0.0.1", "10.0.0.0", "invalid CIDR address: 10.0.0.0"),
        ("10.0.0.1", "10.0.0.0/33", "invalid CIDR address"),
        ("10.0.0.1", "10.0.0.0/+8", "invalid CIDR address"),
        ("10.0.0.1", "10.0.0.0/", "invalid CIDR address"),
    ],
)
def test_in_ip_addr_range_errors(ip, cidr, message):
    with pytest.raises(EvaluationError, match=message):
        cerbos.in_ip_addr_range(ip, cidr)


# ---------------------------------------------------------------- time and id


def test_now_reads_the_activation():
    expected = Timestamp.from_datetime(NOW)
    assert cerbos.now({"now": NOW}) == expected
    assert cerbos.now({"now": lambda: NOW}) == expected
    stamp = Timestamp(int(expected) + 1)
    assert cerbos.now({"now": stamp}) is stamp and cerbos.now({"now": lambda: stamp}) is stamp
    local = NOW.astimezone(dt.timezone(dt.timedelta(hours=-5)))
    assert cerbos.now({"now": local}) == expected and cerbos.now({"now": local}).offset == 0
    before = time.time_ns()
    assert before <= cerbos.now({}) <= time.time_ns()
    with pytest.raises(EvaluationError, match="timezone-aware"):
        cerbos.now({"now": dt.datetime(2021, 1, 1)})


def test_time_since():
    last_login = Timestamp.from_datetime(dt.datetime(2021, 4, 20, 15, 5, 20, 21000, tzinfo=dt.UTC))
    assert cerbos.time_since({"now": NOW}, last_login) == Duration(48 * 3600 * 10**9)
    assert cerbos.time_since({"now": NOW}, Timestamp(int(last_login) - 1)) == Duration(48 * 3600 * 10**9 + 1)
    with pytest.raises(EvaluationError, match="no such overload"):
        cerbos.time_since({"now": NOW}, "2021-01-01T00:00:00Z")


def test_time_since_saturates_like_go():
    ancient = Timestamp.from_datetime(dt.datetime(1, 1, 1, tzinfo=dt.UTC))
    assert cerbos.time_since({"now": NOW}, ancient) == Duration(2**63 - 1)


def test_id():
    assert cerbos.identity([1, "a"]) == [1, "a"]


# ---------------------------------------------------------------- paths (crosspath's test tables)


@pytest.mark.parametrize(
    ("path", "want"),
    [
        (".", "."),
        ("..", ".."),
        ("/path/to/dir", "dir"),
        ("\\\\host\\share\\dir", "dir"),
        ("\\\\host\\share\\dir\\", "dir"),
        ("C:\\\\path\\\\to\\\\dir", "dir"),
        ("C:\\\\path\\\\to\\\\dir\\\\", "dir"),
        ("C:\\\\path\\\\to\\\\..\\\\dir", "dir"),
        ("", "."),
        ("/", "/"),
    ],
)
def test_base_path(path, want):
    assert cerbos.cel_base_path(path) == want


@pytest.mark.parametrize(
    ("path", "want"),
    [
        ("/path/to/dir", "/path/to"),
        ("\\\\host\\share\\path\\to\\dir", "\\\\host\\share\\path\\to"),
        ("\\\\host\\share\\dir", "\\\\host\\share"),
        ("C:\\path\\to\\dir", "C:\\path\\to"),
        ("/path/to/file.txt", "/path/to"),
        ("\\\\host\\share\\path\\to\\file.txt", "\\\\host\\share\\path\\to"),
        ("\\\\host\\share\\file.txt", "\\\\host\\share"),
        ("C:\\path\\to\\file.txt", "C:\\path\\to"),
        ("/", "/"),
        ("\\\\host\\share", "\\\\host\\share"),
        ("C:\\", "C:\\"),
        ("C:", "C:\\"),
        ("./path/to/dir", "path/to"),
        ("path\\to\\dir", "path\\to"),
        ("../path/to/dir", "../path/to"),
        ("..\\path\\to\\dir", "..\\path\\to"),
        ("/path/to/dir/", "/path/to"),
        ("\\\\host\\share\\path\\to\\dir\\", "\\\\host\\share\\path\\to"),
        ("\\\\host\\share\\dir\\", "\\\\host\\share"),
        ("C:\\path\\to\\dir\\", "C:\\path\\to"),
        ("/path//to/file.txt", "/path/to"),
        ("\\\\host\\share\\path\\\\to\\file.txt", "\\\\host\\share\\path\\to"),
        ("\\\\host\\share\\\\file.txt", "\\\\host\\share"),
        ("C:\\path\\\\to\\file.txt", "C:\\path\\to"),
        ("file.txt", "."),
        ("", "."),
    ],
)
def test_dir_path(path, want):
    assert cerbos.cel_dir_path(path) == want


@pytest.mark.parametrize("path", ["C:.", "C:dir", "C:/dir", "a\\"])
def test_dir_path_errors(path):
    with pytest.raises(EvaluationError):
        cerbos.cel_dir_path(path)


@pytest.mark.parametrize(
    ("path", "want"),
    [
        ("/path/to/file.txt", ".txt"),
        ("\\\\host\\share\\file.txt", ".txt"),
        ("C:\\path\\to\\file.txt", ".txt"),
        ("/path/to.d/file", ""),
        ("archive.tar.gz", ".gz"),
    ],
)
def test_ext_path(path, want):
    assert cerbos.cel_ext_path(path) == want


@pytest.mark.parametrize(
    ("paths", "want"),
    [
        ([], ""),
        ([""], ""),
        (["/path", "to", "dir"], "/path/to/dir"),
        (["/path", "to", "dir", ".."], "/path/to"),
        (["path", "to", "dir"], "path/to/dir"),
        (["path", "to", "dir", ".."], "path/to"),
        (["/path", "to", "file.txt"], "/path/to/file.txt"),
        (["/"], "/"),
        (["\\\\host", "share", "path", "to", "dir"], "\\\\host\\share\\path\\to\\dir"),
        (["\\\\host", "share", "path", "to", "dir", ".."], "\\\\host\\share\\path\\to"),
        (["\\\\host", "share", "file.txt"], "\\\\host\\share\\file.txt"),
        (["\\\\host", "share"], "\\\\host\\share"),
        (["C:", "path", "to", "dir"], "C:\\path\\to\\dir"),
        (["C:", "path", "to", "dir", ".."], "C:\\path\\to"),
        (["\\path", "to", "dir"], "\\path\\to\\dir"),
        (["\\path", "to", "dir", ".."], "\\path\\to"),
        (["C:", "path", "to", "file.txt"], "C:\\path\\to\\file.txt"),
        (["C:\\"], "C:\\"),
        (["a", "", "b"], "a/b"),
        (["a//b"], "a//b"),
    ],
)
def test_join_path(paths, want):
    assert cerbos.cel_join_path(paths) == want


def test_join_path_needs_strings():
    with pytest.raises(EvaluationError, match=r"^no such overload: joinPath\(list\)$"):
        cerbos.cel_join_path(["a", 1])


@pytest.mark.parametrize(
    ("path", "pattern", "want"),
    [
        ("/path/to/file.zip", "/path/to/*.zip", True),
        ("/path/to/../file.zip", "/path/to/../*.zip", True),
        ("/path/to/file.zip", "/path/to/*.txt", False),
        ("\\\\host\\share\\file.zip", "\\\\host\\share\\*.zip", True),
        ("\\\\host\\share\\..\\file.zip", "\\\\host\\share\\..\\*.zip", True),
        ("\\\\host\\share\\file.zip", "\\\\host\\share\\*.txt", False),
        ("C:\\path\\to\\file.zip", "C:\\path\\to\\*.zip", True),
        ("C:\\path\\to\\..\\file.zip", "C:\\path\\to\\..\\*.zip", True),
        ("C:\\path\\to\\file.zip", "C:\\path\\to\\*.txt", False),
        ("D:\\path\\to\\file.zip", "C:\\path\\to\\*.zip", False),
        ("/a/b/c", "/a/*", False),
        ("/a/b", "/a/?", True),
        ("/a/bc", "/a/[a-c]c", True),
        ("/a/dc", "/a/[^a-c]c", True),
        ("/a/bc", "/a/[^a-c]c", False),
        ("/a/*", "/a/\\*", True),
        ("/a/xyz.txt", "/a/*y*.txt", True),
        ("abc", "a*", True),
        ("ab/c", "a*", False),
        ("x", "y[a]", False),
        ("x", "y*[a]", False),
    ],
)
def test_path_match(path, pattern, want):
    assert cerbos.cel_path_match(path, pattern) is want


@pytest.mark.parametrize(
    ("path", "pattern"),
    [("/a/b", "/a/["), ("/a/b", "/a/[]"), ("x", "y["), ("a", "[]a]"), ("a", "[a-]"), ("x", "y*z[")],
)
def test_path_match_bad_pattern(path, pattern):
    with pytest.raises(EvaluationError, match="syntax error in pattern"):
        cerbos.cel_path_match(path, pattern)


def test_path_match_any_of():
    assert cerbos.cel_path_match_any_of("/path/to/file.zip", ["/path/to/*.tar.gz", "/path/to/*.zip"])
    assert cerbos.cel_path_match_any_of(
        "C:\\path\\to\\file.zip", ["C:\\path\\to\\*.tar.gz", "C:\\path\\to\\*.zip"]
    )
    assert not cerbos.cel_path_match_any_of("/path/to/file.zip", [])


@pytest.mark.parametrize(
    ("base", "target", "want"),
    [
        ("/path/to/dir", "/path/to/dir", "."),
        ("/path/to/dir", "/path/to", ".."),
        ("/path/to", "/path/to/file.txt", "file.txt"),
        ("/path/to/dir", "/path/to/other_dir", "../other_dir"),
        ("/path/to/../dir", "/path/to/../other_dir", "../other_dir"),
        ("path/to/dir", "path/to/other_dir", "../other_dir"),
        ("\\\\host\\share\\path\\to\\dir", "\\\\host\\share\\path\\to\\dir", "."),
        ("\\\\host\\share\\path\\to\\dir", "\\\\host\\share\\path\\to", ".."),
        ("\\\\host\\share", "\\\\host\\share\\file.txt", "file.txt"),
        ("\\\\host\\share\\object", "\\\\host\\share\\other_object", "..\\other_object"),
        (
            "\\\\host\\share\\path\\to\\..\\dir\\object",
            "\\\\host\\share\\path\\to\\..\\dir\\other_object",
            "..\\other_object",
        ),
        ("C:\\path\\to\\dir", "C:\\path\\to\\dir", "."),
        ("C:\\path\\to\\dir", "C:\\path\\to", ".."),
        ("C:\\path\\to", "C:\\path\\to\\file.txt", "file.txt"),
        ("C:\\path\\to\\dir", "C:\\path\\to\\other_dir", "..\\other_dir"),
        ("C:\\path\\to\\..\\dir", "C:\\path\\to\\..\\other_dir", "..\\other_dir"),
        ("path\\to\\dir", "path\\to\\other_dir", "..\\other_dir"),
        ("/", "/a/b", "a/b"),
        ("/a/b", "/", "../.."),
        ("a/b", "c", "../../c"),
        (".", "a", "a"),
    ],
)
def test_rel_path(base, target, want):
    assert cerbos.cel_rel_path(base, target) == want


@pytest.mark.parametrize(("base", "target"), [("/a", "b"), ("a", "/b"), ("..", "a")])
def test_rel_path_errors(base, target):
    with pytest.raises(EvaluationError, match="can't make"):
        cerbos.cel_rel_path(base, target)


@pytest.mark.parametrize(
    ("path", "want"),
    [
        ("/path/to/dir", ""),
        ("/", ""),
        ("\\\\host\\share\\dir", "\\\\host\\share"),
        ("\\\\host\\share", "\\\\host\\share"),
        ("\\\\host", ""),
        ("C:\\path\\to\\dir", "C:"),
        ("C:", "C:"),
    ],
)
def test_volume_name(path, want):
    assert cerbos.cel_volume_name(path) == want


@pytest.mark.parametrize(
    ("path", "prefix", "want"),
    [
        ("/path/to/dir", "/path/to", True),
        ("\\\\host\\share\\dir", "\\\\host\\share", True),
        ("C:\\path\\to\\dir", "C:\\path\\to", True),
        ("/foo/barbaz", "/foo/bar", False),
        ("\\\\host\\share\\barbaz", "\\\\host\\share\\bar", False),
        ("C:\\foo\\barbaz", "C:\\foo\\bar", False),
        ("/path/to/dir", "/path/to/dir", True),
        ("\\\\host\\share\\dir", "\\\\host\\share\\dir", True),
        ("C:\\path\\to\\dir", "C:\\path\\to\\dir", True),
        ("/path", "/path/to", False),
        ("/a/.hidden", "/a", False),
    ],
)
def test_path_has_prefix(path, prefix, want):
    assert cerbos.cel_path_has_prefix(path, prefix) is want


def test_path_functions_need_strings():
    with pytest.raises(EvaluationError, match="no such overload"):
        cerbos.cel_base_path(1)
    with pytest.raises(EvaluationError, match="no such overload"):
        cerbos.cel_path_match("/a", ["/a"])


# ---------------------------------------------------------------- through compiled expressions


@pytest.mark.parametrize(
    "expr",
    [
        '"192.168.0.5".inIPAddrRange("192.168.0.0/24")',
        '!"192.169.1.5".inIPAddrRange("192.168.0.0/24")',
        "has_intersection([1, 2, 3], [3, 5]) && hasIntersection([1.0, 2], [1])",
        "[1, 2].hasIntersection([2])",
        "intersect([1], [1.0, 2]) == [1] && intersect([1.0, 5, 6, 7], [1, 2, 3, 4]) == [1.0]",
        "[1, 2].intersect([2, 3]) == [2]",
        "[1, 2].is_subset([1, 2, 3]) && isSubset([1.0, 2], [1, 2]) && ![1, 2].isSubset([2, 3])",
        "[1, 3, 5].except([5, 3]) == [1] && except([1, 2], [1.0, 2]) == []",
        'timestamp("2021-04-20T10:05:20.021-05:00").timeSince() == duration("48h")',
        'timeSince(timestamp("2021-04-21T10:05:20.021-05:00")) == duration("24h")',
        'now() == timestamp("2021-04-22T10:05:20.021-05:00") && now() == now()',
        "now().timeSince() == duration('0')",
        "id([1, 'a']) == [1, 'a']",
        'basePath("/path/to/dir") == "dir" && dirPath("/path/to/file.txt") == "/path/to"',
        'extPath("/path/to/file.txt") == ".txt" && joinPath([]) == ""',
        'joinPath(["/path", "to", "file.txt"]) == "/path/to/file.txt"',
        'pathHasPrefix("/path/to/dir", "/path/to") && "C:\\\\path\\\\to\\\\dir".pathHasPrefix("C:\\\\path\\\\to")',
        '!"/foo/barbaz".pathHasPrefix("/foo/bar")',
        'pathMatch("/path/to/file.zip", "/path/to/*.zip") && !"/path/to/file.zip".pathMatch("/path/to/*.txt")',
        '"/path/to/file.zip".pathMatchAnyOf(["/path/to/*.tar.gz", "/path/to/*.zip"])',
        'relPath("/path/to/dir", "/path/to/other_dir") == "../other_dir"',
        'volumeName("/path/to/dir") == "" && volumeName("C:\\\\path") == "C:"',
    ],
)
def test_compiled(expr):
    from chamberlain.cel import compile

    assert compile(expr).evaluate({"now": NOW}) is True


@pytest.mark.parametrize(
    "expr",
    ['"test".inIPAddrRange("192.168.0.0/24")', 'dirPath("C:dir")', 'pathMatch("a", "[")', "except(1, [1])"],
)
def test_compiled_errors(expr):
    from chamberlain.cel import compile

    with pytest.raises(EvaluationError):
        compile(expr).evaluate({"now": NOW})
