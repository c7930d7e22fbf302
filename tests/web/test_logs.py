"""JSON log lines carry the request id and the tenant; nothing else leaks into them."""

import io
import json
import logging

import pytest

from guichet.web.logs import ContextFilter, JsonFormatter

pytestmark = pytest.mark.asyncio(loop_scope="session")


async def test_access_lines_are_json_with_request_id_and_tenant(client):
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    handler.addFilter(ContextFilter())
    logger = logging.getLogger("guichet.access")
    logger.addHandler(handler)
    previous = logger.level
    logger.setLevel(logging.INFO)
    try:
        response = await client.get("/ccas-castres/aide", headers={"X-Request-ID": "abc123"})
        await client.get("/healthz")
    finally:
        logger.removeHandler(handler)
        logger.setLevel(previous)
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    first = next(line for line in lines if line["path"] == "/ccas-castres/aide")
    assert first["request_id"] == "abc123" == response.headers["x-request-id"]
    assert first["tenant"] == "ccas-castres"
    assert first["status"] == 200 and first["method"] == "GET"
    assert next(line for line in lines if line["path"] == "/healthz")["tenant"] == "-"


async def test_single_use_links_are_not_written_to_the_logs():
    from guichet.web.logs import redact_path

    assert redact_path("/ccas-castres/reinitialiser/abcDEF123") == "/ccas-castres/reinitialiser/…"
    assert redact_path("/t/activer/tok") == "/t/activer/…"
    assert redact_path("/t/confirmer-courriel/tok") == "/t/confirmer-courriel/…"
    assert redact_path("/t/agents/invitation/tok") == "/t/agents/invitation/…"
    assert redact_path("/t/mon-espace") == "/t/mon-espace"
