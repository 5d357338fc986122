"""docs/security.md's configuration sample loads as written (with certificates made here at its paths)."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from chamberlain.server.config import load_config
from tests.server.certs import authority, leaf

DOC = Path(__file__).resolve().parents[1] / "docs" / "security.md"


def test_the_tls_sample_configures_mutual_tls(tmp_path, monkeypatch):
    [sample] = re.findall(r"```yaml\n(.*?)```", DOC.read_text(), re.S)
    (tmp_path / "tls").mkdir()
    ca = authority()
    ca.write(tmp_path / "tls", "ca")
    leaf(ca, "pdp").write(tmp_path / "tls", "server")
    (tmp_path / "chamberlain.yaml").write_text(sample)
    monkeypatch.chdir(tmp_path)
    config = load_config(tmp_path / "chamberlain.yaml", env={})
    data = yaml.safe_load(sample)
    assert config.tls is not None and config.tls.ca_file == tmp_path / data["server"]["tls"]["caCert"]
    assert config.public_url == "https://127.0.0.1:3592" and config.tls_reload_interval == 1.0
