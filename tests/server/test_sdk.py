"""The official `cerbos` Python SDK (HTTP client) works unchanged against chamberlain."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from cerbos.sdk.client import CerbosClient
from cerbos.sdk.model import PlanResourcesFilterKind, Principal, Resource, ResourceDesc, ResourceList

from chamberlain.integrations.sqlalchemy import get_query
from tests.server.support import STORE, ThreadServer


@pytest.fixture(scope="module")
def client():
    with ThreadServer(STORE) as server, CerbosClient(server.url) as c:
        yield c


PRINCIPAL = Principal(
    "john",
    roles={"employee"},
    policy_version="20210210",
    attr={"department": "marketing", "geography": "GB", "team": "design"},
)
RESOURCE = Resource(
    "XX125",
    "leave_request",
    policy_version="20210210",
    attr={"department": "marketing", "geography": "GB", "owner": "john", "team": "design"},
)


def test_health(client):
    assert client.is_healthy()


def test_is_allowed(client):
    assert client.is_allowed("view:public", PRINCIPAL, RESOURCE)
    assert not client.is_allowed("approve", PRINCIPAL, RESOURCE)


def test_check_resources(client):
    resp = client.check_resources(
        PRINCIPAL, ResourceList().add(RESOURCE, {"view:public", "approve"}), request_id="sdk-1"
    )
    assert resp.request_id == "sdk-1"
    result = resp.get_resource("XX125")
    assert result.is_allowed("view:public") and not result.is_allowed("approve")


def test_plan_resources(client):
    resp = client.plan_resources(
        "view:public", PRINCIPAL, ResourceDesc("leave_request", policy_version="20210210")
    )
    assert not resp.failed()
    assert resp.filter.kind == PlanResourcesFilterKind.ALWAYS_ALLOWED
    resp = client.plan_resources(
        "approve", PRINCIPAL, ResourceDesc("leave_request", policy_version="20210210")
    )
    assert resp.filter.kind == PlanResourcesFilterKind.ALWAYS_DENIED
    resp = client.plan_resources("view", PRINCIPAL, ResourceDesc("leave_request", policy_version="20210210"))
    assert resp.filter.kind == PlanResourcesFilterKind.CONDITIONAL
    # The SDK's own objects go straight into the SQLAlchemy integration (cerbos-sqlalchemy's API).
    table = sa.Table(
        "leave_request",
        sa.MetaData(),
        sa.Column("id", sa.String, primary_key=True),
        sa.Column("public", sa.Boolean),
    )
    query = get_query(resp, table, {"request.resource.attr.public": table.c.public})
    assert str(query.whereclause) == "leave_request.public = true AND leave_request.public IS NOT NULL"
