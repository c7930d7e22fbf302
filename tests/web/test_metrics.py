"""Prometheus metrics: behind a token, per tenant and per route template, label sets bounded
whatever URLs are asked for; payments counted by outcome."""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
import pytest_asyncio
from litestar.testing import AsyncTestClient
from prometheus_client.parser import text_string_to_metric_families

from guichet.app import create_app
from tests.support.accounts import FR, new_citizen
from tests.support.billing import NOTIFY, bank_answer, invoice_for, notify, start_payment

pytestmark = pytest.mark.asyncio(loop_scope="session")

TOKEN = "metrics-" + uuid.uuid4().hex
BEARER = {"Authorization": f"Bearer {TOKEN}"}


@pytest_asyncio.fixture(loop_scope="session")
async def scraped(backend: Any) -> AsyncIterator[AsyncTestClient]:
    web = dataclasses.replace(backend.settings.web, metrics_token=TOKEN)
    app = create_app(dataclasses.replace(backend.settings, web=web), configure_logs=False)
    async with AsyncTestClient(app=app) as client:
        yield client


async def samples(client: Any) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    response = await client.get("/metrics", headers=BEARER)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain")
    assert response.headers["cache-control"] == "no-store"
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


def value(found: dict[Any, float], name: str, **labels: str) -> float:
    return found.get((name, frozenset(labels.items())), 0.0)


async def test_no_token_set_no_endpoint(client):
    assert (await client.get("/metrics", headers=BEARER)).status_code == 404


async def test_a_scrape_needs_the_token(scraped):
    assert (await scraped.get("/metrics")).status_code == 401
    wrong = await scraped.get("/metrics", headers={"Authorization": "Bearer nope"})
    assert wrong.status_code == 401 and "bearer" in wrong.headers["www-authenticate"].lower()
    assert (await scraped.get("/metrics", headers={"Authorization": TOKEN})).status_code == 401


async def test_requests_per_tenant_and_route_template_with_bounded_labels(scraped):
    before = await samples(scraped)
    assert (await scraped.get("/ccas-castres/aide", headers=FR)).status_code == 200
    assert (await scraped.get("/mairie-valdoree/", headers=FR)).status_code == 200
    for _ in range(20):  # random URLs: unknown tenants, unknown pages, random ids
        await scraped.get(f"/t-{uuid.uuid4().hex[:12]}/", headers=FR)
        await scraped.get(f"/ccas-castres/mon-espace/factures/{uuid.uuid4()}", headers=FR)
    after = await samples(scraped)

    tenant = "guichet_http_requests_total"
    assert value(after, tenant, tenant="ccas-castres", status="2xx") >= (
        value(before, tenant, tenant="ccas-castres", status="2xx") + 1
    )
    assert value(after, tenant, tenant="mairie-valdoree", status="2xx") >= 1
    assert value(after, tenant, tenant="-", status="4xx") >= 20  # unknown tenants: one label
    route = "/{tenant_slug}/mon-espace/factures/{invoice_id}"
    count = "guichet_http_request_duration_seconds_count"
    assert value(after, count, route=route, method="GET") >= (
        value(before, count, route=route, method="GET") + 20
    )
    labels = {dict(key[1]).get("tenant") for key in after} | {
        dict(key[1]).get("route") for key in after
    }
    assert not any(label and ("t-" in label[:3] or _has_uuid(label)) for label in labels)
    # No new series for the random URLs: the label sets are those of the route table.
    new = {key for key in after if key not in before and not key[0].endswith("_created")}
    assert all(
        dict(labels).get("route", "") in _route_templates(scraped) | {"", "-"}
        for _name, labels in new
    ), new


def _has_uuid(text: str) -> bool:
    import re

    return bool(re.search(r"[0-9a-f]{8}-[0-9a-f]{4}-", text))


def _route_templates(client: Any) -> set[str]:
    return {route.path_format for route in client.app.routes}


async def test_payments_are_counted_by_outcome(scraped, backend):
    before = await samples(scraped)
    username, _ = await new_citizen(scraped, backend.settings)
    invoice_id = await invoice_for(backend.settings, "ccas-castres", username)
    fields = await start_payment(scraped, invoice_id)
    answer = bank_answer(backend.settings, fields)
    assert (await notify(scraped, answer)).status_code == 200
    assert (await notify(scraped, answer)).status_code == 200  # the bank sends it again
    forged = dict(answer, vads_amount="1")
    assert (await notify(scraped, forged)).status_code >= 400
    after = await samples(scraped)
    name = "guichet_payments_total"
    for outcome in ("paid", "duplicate", "rejected"):
        assert value(after, name, tenant="ccas-castres", outcome=outcome) == (
            value(before, name, tenant="ccas-castres", outcome=outcome) + 1
        ), outcome
    assert NOTIFY.startswith("/ccas-castres/")
