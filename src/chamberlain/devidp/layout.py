"""``chamberlain dev idp init``: the dev IdP's directory, written once and kept.

=====================  ==========================================================================
``signing-key.json``   the private signing key (mode 0600); replaced only with ``--force``
``jwks.json``          its public JWK Set (derived: rewritten from the key on every run)
``idp.yaml``           the IdP's settings: issuer, audience, token lifetime, OIDC clients
``identities.yaml``    people (roles, attributes) and agents (chamberlain's agents registry format)
``chamberlain.yaml``   a config ``chamberlain serve --config`` accepts as is: trust this IdP
                       (derived: rewritten from ``idp.yaml`` on every run)
=====================  ==========================================================================

``idp.yaml`` and ``identities.yaml`` are written when missing and never touched after: edit them.
"""

from __future__ import annotations

import json
from pathlib import Path

import yaml

from chamberlain.delegation.errors import DelegationError
from chamberlain.delegation.keys import SIGNING_ALGORITHMS, generate_key, read_key_file, write_key_file
from chamberlain.devidp.errors import DevIdpError
from chamberlain.devidp.identities import DEFAULT_TEXT as DEFAULT_IDENTITIES
from chamberlain.devidp.identities import FILE_NAME as IDENTITIES_FILE
from chamberlain.devidp.provider import JWKS_FILE, KEY_FILE, KID_PREFIX, DevIdp, current_key
from chamberlain.devidp.settings import DEFAULT_ISSUER, check_issuer, default_text, load_settings
from chamberlain.devidp.settings import FILE_NAME as SETTINGS_FILE

CONFIG_FILE = "chamberlain.yaml"
#: The audience of the delegation tour's checks (the invoices service of examples/policies).
TOUR_AUDIENCE = "https://invoices.example"


def chamberlain_config(idp: DevIdp) -> str:
    """The ``chamberlain serve --config`` file trusting ``idp`` (absolute paths: it works from any folder)."""
    folder = idp.directory.resolve()
    data = {
        "chamberlain": {
            "delegation": {
                "trustedIssuers": [
                    {
                        "issuer": idp.issuer,
                        "jwksFile": str(folder / JWKS_FILE),
                        "audience": idp.settings.audience,
                    }
                ],
                "agentsFile": str(folder / IDENTITIES_FILE),
                "audiences": [TOUR_AUDIENCE],
            }
        }
    }
    return (
        "# Written by `chamberlain dev idp init` (rerun it to refresh this file; do not edit it).\n"
        "# chamberlain trusts the development identity provider: NOT FOR PRODUCTION (whoever holds its\n"
        "# signing-key.json can sign any identity). Serve with it:\n"
        f"#   chamberlain serve --config {folder / CONFIG_FILE} --policies examples/policies\n"
        "# agentsFile is the dev IdP's identities.yaml (its agents part); audiences are the services whose\n"
        f"# checks carry delegation tokens ({TOUR_AUDIENCE}: the invoices service of the delegation tour).\n"
        + str(yaml.safe_dump(data, sort_keys=False, default_flow_style=False))
    )


def _write_if_changed(path: Path, text: str) -> str:
    if path.is_file() and path.read_text(encoding="utf-8") == text:
        return f"{path}: up to date"
    existed = path.exists()
    path.write_text(text, encoding="utf-8")
    return f"{path}: {'rewritten' if existed else 'written'}"


def _key(directory: Path, algorithm: str | None, force: bool) -> str:
    path = directory / KEY_FILE
    if path.exists() and not force:
        try:
            key = current_key(read_key_file(path, str(path)))
        except DelegationError as exc:
            raise DevIdpError(f"{exc} (pass --force to replace it with a new key)") from None
        if algorithm and key.alg != algorithm:
            raise DevIdpError(
                f"{path} holds an {key.alg} key: pass --force to replace it with an {algorithm} "
                "key (tokens signed with the old key stop verifying)"
            )
        return f"{path}: kept ({key.alg}, kid {key.kid})"
    key = generate_key(algorithm or "EdDSA", KID_PREFIX)
    replaced = path.exists()
    write_key_file(path, [key], replace=True)
    return f"{path}: {'replaced' if replaced else 'created'} ({key.alg}, kid {key.kid})"


def init_directory(
    directory: str | Path, *, issuer: str | None = None, algorithm: str | None = None, force: bool = False
) -> list[str]:
    """Create (or complete) a dev IdP directory; returns one line per file saying what happened.

    Idempotent: a second run changes nothing. The key is replaced only with ``force``; ``issuer``
    applies when ``idp.yaml`` is created (an existing one naming another issuer is an error).
    """
    if algorithm is not None and algorithm not in SIGNING_ALGORITHMS:
        raise DevIdpError(f"--algorithm must be one of {', '.join(SIGNING_ALGORITHMS)}, got {algorithm!r}")
    folder = Path(directory)
    if issuer is not None:
        issuer = check_issuer(issuer, "--issuer")
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DevIdpError(f"cannot create {folder}: {exc.strerror or exc}") from None
    report = []
    settings_path = folder / SETTINGS_FILE
    if settings_path.exists():
        named = load_settings(settings_path).issuer
        if issuer is not None and issuer != named:
            raise DevIdpError(
                f"{settings_path} names issuer {named}, not {issuer}: edit it there (or delete the file)"
            )
        report.append(f"{settings_path}: kept (issuer {named})")
    else:
        settings_path.write_text(default_text(issuer or DEFAULT_ISSUER), encoding="utf-8")
        report.append(f"{settings_path}: written (issuer {issuer or DEFAULT_ISSUER})")
    identities_path = folder / IDENTITIES_FILE
    if identities_path.exists():
        report.append(f"{identities_path}: kept")
    else:
        identities_path.write_text(DEFAULT_IDENTITIES, encoding="utf-8")
        report.append(f"{identities_path}: written (example people and agents)")
    report.append(_key(folder, algorithm, force))
    idp = DevIdp.load(folder)  # validates what is there now
    report.append(_write_if_changed(folder / JWKS_FILE, json.dumps(idp.jwks(), indent=2) + "\n"))
    report.append(_write_if_changed(folder / CONFIG_FILE, chamberlain_config(idp)))
    return report
