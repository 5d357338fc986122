"""Imports that no policy provides, reported as ``cerbos compile`` reports them.

Derived roles, exported variables and exported constants imported by a resource policy (scoped or
not), a principal policy (whose key Cerbos writes with its name sanitised: ``fleet-bot`` is
``principal.fleet_bot.vdefault``) and a derived roles policy: each at the same position with Cerbos's
words (``cannot find variables "x" imported by resource.doc.vdefault/acme``), chamberlain's hint
after them.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from chamberlain.policy import PolicyError, load_directory
from tests.support.cerbos_server import require_cerbos

FILES = {
    "doc.yaml": """
apiVersion: api.cerbos.dev/v1
resourcePolicy:
  resource: doc
  version: default
  importDerivedRoles: ["no_roles"]
  variables:
    import: ["no_vars"]
  constants:
    import: ["no_consts"]
  rules:
    - actions: ["view"]
      effect: EFFECT_ALLOW
      roles: ["*"]
""",
    "doc_acme.yaml": """
apiVersion: api.cerbos.dev/v1
resourcePolicy:
  resource: doc
  version: default
  scope: acme
  variables:
    import: ["acme_vars"]
  rules:
    - actions: ["view"]
      effect: EFFECT_ALLOW
      roles: ["*"]
""",
    "roles.yaml": """
apiVersion: api.cerbos.dev/v1
derivedRoles:
  name: relations
  variables:
    import: ["relation_vars"]
  definitions:
    - name: owner
      parentRoles: ["user"]
""",
    "fleet_bot.yaml": """
apiVersion: api.cerbos.dev/v1
principalPolicy:
  principal: fleet-bot
  version: default
  constants:
    import: ["bot_consts"]
  rules:
    - resource: doc
      actions:
        - action: view
          effect: EFFECT_ALLOW
""",
}
_LINE = re.compile(r"^(\S+\.yaml):(\d+):(\d+) (cannot find .*)$")


@pytest.fixture(scope="module")
def policies(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("missing-imports")
    for name, text in FILES.items():
        (folder / name).write_text(text.lstrip())
    return folder


def test_missing_imports_are_reported_in_cerbos_s_words(policies: Path) -> None:
    done = subprocess.run(
        [str(require_cerbos()), "compile", "--no-color", str(policies)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    theirs = sorted(m.groups() for line in done.stdout.splitlines() if (m := _LINE.match(line.strip())))
    assert len(theirs) == 6, done.stdout
    with pytest.raises(PolicyError) as refused:
        load_directory(policies)
    ours = sorted(
        (issue.file, str(issue.line), str(issue.column), issue.message.split(": check the name of")[0])
        for issue in refused.value.errors
    )
    assert ours == theirs
