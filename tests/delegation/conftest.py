"""One token service per module, served by uvicorn: the example policies, a trusted IdP, the agents file."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from tests.delegation.support import IdentityProvider, example_pdp, serve, settings

from chamberlain.delegation import TokenService, create_app, parse_config


@dataclass
class World:
    tmp: Path
    idp: IdentityProvider
    service: TokenService
    url: str

    def person(self, sub: str = "alice", **claims: object) -> str:
        """A person's token from the IdP, for chamberlain, as a finance clerk with payment scopes."""
        claims = {"roles": ["finance_clerk"], "scope": "payments:write payments:read", **claims}
        return self.idp.token(sub, **claims)

    def agent(self, sub: str, **claims: object) -> str:
        return self.idp.token(sub, **claims)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    tmp = tmp_path_factory.mktemp("delegation")
    idp = IdentityProvider()
    config = parse_config(settings(tmp, idp), state_dir=tmp / "state", base_url="http://unused.example")
    service = TokenService(config, example_pdp(tmp))
    with serve(create_app(service)) as url:
        yield World(tmp, idp, service, url)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """chamberlain signs with EdDSA on purpose (see chamberlain.delegation.keys); joserfc's RFC 9864 warning
    about the name is silenced in production by a filter that pytest's per-test warning capture resets."""
    here = Path(__file__).parent
    for item in items:
        if here in Path(item.path).parents:
            item.add_marker(pytest.mark.filterwarnings("ignore:EdDSA is deprecated"))
