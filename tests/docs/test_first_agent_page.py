"""docs/getting-started/first-agent.md runs as written: mcp-server-time (from PyPI) behind
`chamberlain mcp-proxy` with the example policies, an MCP client as the agent, then the decision log."""

from __future__ import annotations

from pathlib import Path

from tests.docs.page_runner import PageRun

ROOT = Path(__file__).resolve().parents[2]
PAGE = ROOT / "docs" / "getting-started" / "first-agent.md"


def test_the_first_agent_page_runs_as_written(tmp_path: Path) -> None:
    (tmp_path / "examples").symlink_to(ROOT / "examples")  # the page runs from the repository's root
    run = PageRun(PAGE, tmp_path)
    try:
        compared = run.run()
    finally:
        run.close()
    assert compared == 4, "every output the page shows was compared"
    assert (tmp_path / ".chamberlain" / "decisions.db").is_file()


def test_the_page_quotes_the_example_policy_as_it_is():
    """The rule the page shows is the one in examples/policies (so the page cannot drift from it)."""
    page = PAGE.read_text()
    start = page.index("```yaml\n") + len("```yaml\n")
    quoted = page[start : page.index("```", start)]
    assert quoted in (ROOT / "examples/policies/resource_policies/mcp_server.yaml").read_text()
