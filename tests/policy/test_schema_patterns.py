"""JSON Schema ``pattern`` and ``patternProperties`` match with RE2, as Cerbos's schema validator (Go's regexp)
does: linear in the input, so an attribute cannot make a policy author's backtracking-prone pattern run for
minutes (Python's ``re``, jsonschema's default, takes exponential time on ``^(a+)+$`` against ``aaa...!``).
No timing is asserted: the run in a subprocess either finishes with the right answer or is cut off."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

from chamberlain.policy.attribute_schemas import SchemaStore

SCHEMA = {
    "type": "object",
    "properties": {"code": {"type": "string", "pattern": "^(a+)+$"}},
    "patternProperties": {"^(x+)+y$": {"type": "integer"}},
}


def _store() -> SchemaStore:
    store = SchemaStore()
    store.add("principal.json", json.dumps(SCHEMA).encode())
    return store


def test_patterns_validate_as_before():
    store = _store()
    assert store.validate_attributes("cerbos:///principal.json", {"code": "aaa", "xxy": 3}) == []
    problems = store.validate_attributes("cerbos:///principal.json", {"code": "aab", "xxy": "three"})
    assert problems == ["/code: 'aab' does not match '^(a+)+$'", "/xxy: 'three' is not of type 'integer'"]


def test_a_backtracking_pattern_cannot_be_made_to_run_away():
    code = textwrap.dedent(f"""
        import json
        from chamberlain.policy.attribute_schemas import SchemaStore
        store = SchemaStore()
        store.add("principal.json", json.dumps({SCHEMA!r}).encode())
        attrs = {{"code": "a" * 40 + "!", "x" * 40 + "!": 1}}
        print(json.dumps(store.validate_attributes("cerbos:///principal.json", attrs)))
    """)
    try:
        result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    except subprocess.TimeoutExpired:
        raise AssertionError("schema validation ran away on a backtracking pattern") from None
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == [f"/code: '{'a' * 40}!' does not match '^(a+)+$'"]


def test_a_pattern_re2_cannot_compile_makes_the_schema_fail_to_load():
    # as `cerbos compile` refuses it (the pattern is checked against the meta-schema's regex format)
    store = SchemaStore()
    store.add(
        "principal.json",
        json.dumps({"properties": {"a": {"type": "string", "pattern": "^(?=x)x$"}}}).encode(),
    )
    assert store.problem("cerbos:///principal.json") == (
        "jsonschema cerbos:///principal.json compilation failed: '^(?=x)x$' is not a 'regex'"
    )


def test_a_pattern_only_re2_reads_loads_and_matches():
    store = SchemaStore()
    store.add(
        "principal.json",
        json.dumps({"properties": {"a": {"type": "string", "pattern": "^\\p{Lu}[[:alpha:]]*\\z"}}}).encode(),
    )
    assert store.problem("cerbos:///principal.json") is None
    assert store.validate_attributes("cerbos:///principal.json", {"a": "Éa"}) == []
    assert len(store.validate_attributes("cerbos:///principal.json", {"a": "éa"})) == 1
