"""Every cache is bounded by a byte-aware measure, not by its number of entries: a few requests with large
distinct strings cannot make the process keep gigabytes (120 regular expressions of 400 KB kept 1 GB).

Each scenario runs in a fresh interpreter that reports how much its resident memory grew; an address-space
limit keeps a regression from hurting the machine. Memory, not time, is asserted.
"""

from __future__ import annotations

import json
import resource
import subprocess
import sys
import textwrap

import pytest

HARNESS = """
import gc, json, sys
def rss():
    return int(open("/proc/self/statm").read().split()[1]) * 4096
{setup}
gc.collect()
before = rss()
{scenario}
gc.collect()
print(json.dumps({{"growth": rss() - before}}))
"""

SCENARIOS = {
    # `matches` with a pattern from the request: each distinct pattern compiles a large RE2 program.
    "regex": (
        "from chamberlain.cel import compile\nprog = compile('R.matches(P)', variables=['R', 'P'])",
        "for i in range(40):\n    prog.evaluate({'R': 'x', 'P': ('(a|b%d)' % i) * 30000})",
    ),
    # cel-go's ext.Regex functions keep their own cache of compiled programs.
    "regex_ext": (
        "from chamberlain.cel import compile\nprog = compile('regex.replace(R, P, \"y\")', variables=['R', 'P'])",
        "for i in range(40):\n    prog.evaluate({'R': 'x', 'P': ('(a|b%d)' % i) * 30000})",
    ),
    # hierarchy() of request strings: scopes and paths repeat, so parsed values are memoised.
    "hierarchy": (
        "from chamberlain.cel import compile\nprog = compile('hierarchy(R).size() > 0', variables=['R'])",
        "for i in range(4000):\n    prog.evaluate({'R': ('s%d.' % i) + 'a.' * 50000})",
    ),
    # The engine's route and candidate tables are keyed by the request's names (principal id, roles, scope).
    "engine_routes": (
        "from chamberlain import PDP, Principal, Resource\npdp = PDP.from_directory('examples/policies')",
        "for i in range(2000):\n"
        "    pdp.is_allowed(Principal(('p%d' % i) + 'x' * 100000, roles={'agent'}), Resource('invoice', '1'), 'pay')",
    ),
    "engine_actions": (
        "from chamberlain import PDP, Principal, Resource\npdp = PDP.from_directory('examples/policies')",
        "for i in range(3000):\n"
        "    pdp.is_allowed(Principal('alice', roles={'finance_clerk'}), Resource('invoice', '1'), ('a%d' % i) + 'x' * 100000)",
    ),
}
#: What any one of them may keep: the caches' budgets are far below.
GROWTH_LIMIT = 200 << 20


def _bounded() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (3 << 30, 3 << 30))


@pytest.mark.parametrize("name", list(SCENARIOS))
def test_cache_growth_is_bounded(name):
    setup, scenario = SCENARIOS[name]
    code = HARNESS.format(setup=setup, scenario=scenario)
    result = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=600,
        preexec_fn=_bounded,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    growth = json.loads(result.stdout.strip().splitlines()[-1])["growth"]
    assert growth < GROWTH_LIMIT, f"{name}: resident memory grew {growth >> 20} MiB"


@pytest.mark.parametrize(
    ("cached", "make"),
    [
        (
            "chamberlain.cel.program._compile_cached",
            lambda i: (f"R.p{i} == '{'v' * 2000}'", {"variables": ["R"]}),
        ),
        ("chamberlain.cel.parser._parse_cached", lambda i: (f"R.t{i} == '{'v' * 2000}'", {})),
        ("chamberlain.policy.cel_check.check_expression", lambda i: (f"R.c{i} == '{'v' * 2000}'", {})),
    ],
    ids=["cel-programs", "cel-trees", "policy-expression-checks"],
)
def test_expression_caches_are_bounded_by_bytes(cached, make):
    """The caches of compiled expressions (65,536 entries) count what their entries keep (each case its own
    texts: they must miss)."""
    import importlib

    from chamberlain.cel import compile
    from chamberlain.cel.parser import parse
    from chamberlain.policy.cel_check import check_expression

    module, _, name = cached.rpartition(".")
    cache = getattr(importlib.import_module(module), name).cache
    budget, cache.max_bytes = cache.max_bytes, 1 << 18
    try:
        run = {
            "_compile_cached": lambda text, kw: compile(text, **kw),
            "_parse_cached": lambda text, kw: parse(text),
            "check_expression": lambda text, kw: check_expression(text),
        }[name]
        for i in range(100):
            run(*make(i))
            assert cache.used <= 1 << 18
        assert 0 < len(cache) < 100
    finally:
        cache.max_bytes = budget
