"""Requests drawn by hypothesis from the server's own OpenAPI document (every operation,
its parameters as the schema has them or as junk, bodies from a valid image to noise): none
gets a 500, and every refusal is a JSON error."""

from __future__ import annotations

import string
from urllib.parse import quote

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.serve.conftest import png_bytes

JUNK = st.text(alphabet=string.printable, max_size=12)


def _value(schema: dict) -> st.SearchStrategy:
    """A value for a parameter of this schema: one it allows, one at its edges, or junk."""
    options = [JUNK, st.sampled_from(["", "-1", "0", "1e309", "nan", "true", "auto", "bicubic", "tiny_x2"])]
    for kind in [schema, *schema.get("anyOf", [])]:
        if kind.get("type") == "integer":
            options.append(st.integers(-5, 200).map(str))
        elif kind.get("type") == "number":
            options.append(st.floats(allow_nan=True, allow_infinity=True).map(str))
        elif kind.get("type") == "boolean":
            options.append(st.sampled_from(["true", "false", "1", "yes", "maybe"]))
        elif "enum" in kind:
            options.append(st.sampled_from(kind["enum"]))
    return st.one_of(options)


def _operations(document: dict) -> list[tuple[str, str, dict]]:
    return [
        (path, method, operation)
        for path, methods in document["paths"].items()
        for method, operation in methods.items()
        if not path.endswith("/events")  # a stream: covered in test_api
    ]


BODIES = st.one_of(
    st.just(png_bytes(12, 10)),
    st.binary(max_size=200),
    st.integers(1, 60).map(lambda n: png_bytes(12, 10)[:n]),
    st.just(b"GIF89a" + b"\xff" * 30),
)


@st.composite
def requests(draw, document: dict) -> dict:
    path, method, operation = draw(st.sampled_from(_operations(document)))
    params, url = {}, path
    for parameter in operation.get("parameters", []):
        value = draw(_value(parameter.get("schema", {})))
        if parameter["in"] == "path":
            url = url.replace("{" + parameter["name"] + "}", quote(value, safe="") or "x")
        elif draw(st.booleans()):
            params[parameter["name"]] = value
    request = {"method": method.upper(), "url": url, "params": params}
    if "requestBody" in operation:
        body = draw(BODIES)
        if draw(st.booleans()):
            fields = draw(
                st.dictionaries(st.sampled_from(["model", "scale", "outscale", "format", "x"]), JUNK)
            )
            request |= {"files": {draw(st.sampled_from(["file", "other"])): ("f.png", body)}, "data": fields}
        else:
            request["content"] = body
    return request


@pytest.fixture(scope="module")
def document(served) -> dict:
    with served.client() as client:
        return client.get("/api/v1/openapi.json").json()


@pytest.mark.slow
def test_requests_from_the_openapi_document_get_no_500(served, document):
    with served.client() as client:

        @settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck), database=None)
        @given(request=requests(document))
        def check(request: dict) -> None:
            response: httpx.Response = client.request(**request)
            assert response.status_code < 500, (request, response.text[:300])
            if response.status_code >= 400:
                assert response.json()["error"], request

        check()
