"""Contract checks of Jira, Confluence, Bitbucket and Crowd REST calls against their API documents.

    validate_request(product, method, url, headers, body)
    validate_response(product, method, url, status, headers, body)

``product`` is "jira", "confluence", "bitbucket" or "crowd"; ``url`` is the full URL the client
used, context path included (``http://host/jira/rest/api/2/user?username=x``): the part from
``/rest/api/`` (Crowd: ``/rest/usermanagement/``) on is mapped onto the document's server and
paths, so any context path works.
A violation raises ``ContractViolation`` (an AssertionError) naming the product, the call and what
the document wants. When the documents are not there the calling test is skipped.

The documents are read from $SCIM_BRIDGE_REFERENCE_DIR/atlassian-openapi or
../shared/reference/atlassian-openapi, cut down to the admin-sync resources and repaired by name
(see ``openapi_defects``), then checked with the full OpenAPI 3.0 spec validator once per run.
Crowd's only description is a community-written Swagger 2.0 file, converted first (``swagger2``).
"""

import functools
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

import pytest
import yaml
from openapi_core import OpenAPI
from openapi_core.datatypes import RequestParameters
from openapi_core.templating.paths.exceptions import PathError
from werkzeug.datastructures import Headers, ImmutableMultiDict

from tests.support import reference_dir
from tests.support.openapi_defects import repair_in_place
from tests.support.swagger2 import to_openapi3

PRODUCTS = ("jira", "confluence", "bitbucket", "crowd")


class ContractViolation(AssertionError):
    """A request or response that the product's OpenAPI document does not allow."""


@dataclass(frozen=True)
class ProductDocument:
    file_name: str
    # The document's server URL is http://{baseurl}/rest (Jira, Bitbucket: paths start /api/...)
    # or http://{baseurl}/confluence (paths start /rest/api/...): what precedes "/rest/api/".
    path_prefix: str
    # Atlassian's REST framework serves an API both under its version and under "latest"
    # (Jira /rest/api/2 = /rest/api/latest; Bitbucket /rest/api/1.0 = /rest/api/latest,
    # docs/products.md §2, §4); each document spells only one of them.
    aliases: tuple[tuple[str, str], ...] = ()
    # Where a URL's REST part begins.
    rest_marker: str = "/rest/api/"
    # A Swagger 2.0 file (Crowd's) is converted to OpenAPI 3 served at this URL.
    swagger2_server: str | None = None


DOCUMENTS = {
    "jira": ProductDocument("jira-software-dc-10.3-openapi.json", "", (("/rest/api/latest/", "/rest/api/2/"),)),
    "confluence": ProductDocument("confluence-dc-10.0.3-openapi.json", "/confluence"),
    "bitbucket": ProductDocument("bitbucket-dc-9.4-openapi.json", "", (("/rest/api/1.0/", "/rest/api/latest/"),)),
    # basePath /crowd/rest/usermanagement/1: served here without the context path, as the others.
    "crowd": ProductDocument("crowd-usermanagement-community-swagger2.yaml", "", (),
                             "/rest/usermanagement/", "http://{baseurl}/rest/usermanagement/1"),
}
DOCUMENT_HOST = "http://atlassian.example"


def openapi_dir() -> Path:
    return reference_dir() / "atlassian-openapi"


@functools.cache
def _load_openapi(product: str) -> OpenAPI:
    spec = DOCUMENTS[product]
    with (openapi_dir() / spec.file_name).open(encoding="utf-8") as handle:
        document = yaml.safe_load(handle) if spec.file_name.endswith(".yaml") else json.load(handle)
    if spec.swagger2_server is not None:
        document = to_openapi3(document, spec.swagger2_server, {"baseurl": {"default": "localhost:8095"}})
    document = repair_in_place(product, document)
    # OpenAPI() runs the OpenAPI 3.0 spec validator over the repaired subset: a defect left
    # unrepaired there fails loudly instead of silently skipping a check.
    return OpenAPI.from_dict(document)


def openapi_for(product: str) -> OpenAPI:
    """The repaired document of ``product``; skips the calling test when the documents are absent."""
    if product not in DOCUMENTS:
        raise ValueError(f"unknown product {product!r}; expected one of {PRODUCTS}")
    path = openapi_dir() / DOCUMENTS[product].file_name
    if not path.is_file():
        pytest.skip(
            f"Atlassian OpenAPI document {path} is absent "
            "(set SCIM_BRIDGE_REFERENCE_DIR to the directory holding atlassian-openapi/)"
        )
    return _load_openapi(product)


@dataclass
class _Request:
    """openapi-core's Request protocol over the pieces of a recorded call."""

    host_url: str
    path: str
    method: str
    parameters: RequestParameters
    content_type: str
    body: bytes | None


@dataclass
class _Response:
    status_code: int
    headers: Headers
    content_type: str
    data: bytes | None = field(default=None)


def _as_bytes(body: Any) -> bytes | None:
    if body is None or isinstance(body, bytes):
        return body
    if isinstance(body, str):
        return body.encode("utf-8")
    return json.dumps(body).encode("utf-8")


def _document_path(product: str, url: str) -> tuple[str, str]:
    parts = urlsplit(url)
    marker = DOCUMENTS[product].rest_marker
    position = parts.path.find(marker)
    if position < 0:
        raise ContractViolation(f"{product}: {url} is not a REST URL (no {marker} in its path)")
    rest_path = unquote(parts.path[position:])
    for alias, canonical in DOCUMENTS[product].aliases:
        if rest_path.startswith(alias):
            rest_path = canonical + rest_path[len(alias) :]
    return DOCUMENTS[product].path_prefix + rest_path, parts.query


def _request(product: str, method: str, url: str, headers: Any = None, body: Any = None) -> _Request:
    path, query = _document_path(product, url)
    header_map = Headers(dict(headers or {}))
    query_map = ImmutableMultiDict(parse_qsl(query, keep_blank_values=True))
    return _Request(
        host_url=DOCUMENT_HOST,
        path=path,
        method=method.lower(),
        parameters=RequestParameters(query=query_map, header=header_map),
        content_type=header_map.get("Content-Type", "").lower(),
        body=_as_bytes(body),
    )


def _describe(error: BaseException) -> str:
    lines = []
    current: BaseException | None = error
    while current is not None:
        lines.append(f"{type(current).__name__}: {current}")
        for schema_error in getattr(current, "schema_errors", ()):
            lines.append(f"  at {'/'.join(map(str, schema_error.absolute_path))}: {schema_error.message}")
        current = current.__cause__
    return "\n".join(lines)


def _fail(product: str, method: str, url: str, what: str, error: BaseException) -> None:
    raise ContractViolation(
        f"{product} {method.upper()} {url}: {what} does not fit the OpenAPI document\n{_describe(error)}"
    )


def validate_request(product: str, method: str, url: str, headers: Any = None, body: Any = None) -> None:
    """Check method, path, query, headers (credentials included) and JSON body of one call."""
    openapi = openapi_for(product)
    errors = list(openapi.iter_request_errors(_request(product, method, url, headers, body)))
    if errors:
        _fail(product, method, url, "request", errors[0])


def _answered_before_the_resource(product: str, status: int, headers: Headers, body: bytes) -> str | None:
    """Why a response came from the product's front filters, which the documents do not describe."""
    if status == 401 and product in ("jira", "confluence") and "X-Seraph-LoginReason" in headers:
        # Wrong Basic credentials: Seraph's authenticator answers with Tomcat's HTML error page
        # "Basic Authentication Failure - Reason : AUTHENTICATED_FAILED" before any REST resource.
        return "Seraph authentication failure page"
    if status == 401 and product == "crowd" and "WWW-Authenticate" in headers:
        # Wrong application credentials: Crowd's authentication filter answers before any resource
        # (docs/products.md §5.2).
        return "Crowd application authentication filter"
    if status == 403 and body.strip() == b"XSRF check failed":
        # The REST framework's XsrfResourceFilter (docs/products.md §1.3) answers in plain text.
        return "XSRF filter"
    if status == 429:
        # The rate limiter (docs/products.md §1.4) answers before the resource; its contract is
        # the Retry-After header.
        if "Retry-After" not in headers:
            raise ContractViolation(f"{product}: a 429 answer without Retry-After")
        return "rate limiter"
    if status in (502, 503, 504):
        return "proxy or node unavailable"
    return None


def validate_response(product: str, method: str, url: str, status: int, headers: Any = None, body: Any = None) -> None:
    """Check that the document allows ``status`` for this call and that the body fits its schema."""
    openapi = openapi_for(product)
    request = _request(product, method, url)
    header_map = Headers(dict(headers or {}))
    data = _as_bytes(body) or b""
    if _answered_before_the_resource(product, status, header_map, data):
        unknown_call = [e for e in openapi.iter_request_errors(request) if isinstance(e, PathError)]
        if unknown_call:
            _fail(product, method, url, "call", unknown_call[0])
        return
    response = _Response(status, header_map, header_map.get("Content-Type", "").lower(), data or None)
    errors = list(openapi.iter_response_errors(request, response))
    if errors:
        _fail(product, method, url, f"{status} response", errors[0])


def validate_prepared_request(product: str, request: Any) -> None:
    """validate_request for a requests.PreparedRequest (as recorded by ``responses``)."""
    validate_request(product, request.method, request.url, request.headers, request.body)


def validate_requests_response(product: str, response: Any) -> None:
    """validate_response for a requests.Response."""
    request = response.request
    validate_response(product, request.method, request.url, response.status_code, response.headers, response.content)
