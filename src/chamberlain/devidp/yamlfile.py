"""Reading the dev IdP's YAML files: one error style for a missing, oversized or malformed file."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from chamberlain.devidp.errors import DevIdpError

MAX_FILE_BYTES = 1024 * 1024


def read_yaml(path: Path) -> Any:
    """The document in ``path``; raises :class:`DevIdpError` naming the file and the problem."""
    try:
        if path.stat().st_size > MAX_FILE_BYTES:
            raise DevIdpError(f"{path}: larger than {MAX_FILE_BYTES} bytes")
        return yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise DevIdpError(f"cannot read {path}: {exc.strerror or exc}") from None
    except yaml.YAMLError as exc:
        raise DevIdpError(f"{path} is not valid YAML: {exc}") from None
