"""Swagger 2.0 → OpenAPI 3.0, for the one Atlassian API description that is Swagger 2: Crowd's.

openapi-core reads OpenAPI 3 only. The community description of Crowd's ``usermanagement/1`` API
(docs/products.md §5.13) uses a small part of Swagger 2: query and body parameters, JSON answers with
or without a schema, definitions and a basic security scheme. This converts exactly that and refuses
anything else, so a construct it does not know fails loudly instead of silently dropping a check.
The input is first held against openapi-spec-validator's Swagger 2.0 validator.
"""

from __future__ import annotations

import copy
import json
from typing import Any

from openapi_spec_validator import OpenAPIV2SpecValidator, validate

HTTP_METHODS = ("get", "put", "post", "delete", "patch", "head", "options")
OPERATION_KEYS = ("summary", "description", "operationId", "tags", "security", "deprecated")
# What a Swagger 2 non-body parameter may say about its value, all of which OpenAPI 3 keeps in "schema".
SCHEMA_KEYS = ("type", "format", "default", "enum", "items", "minimum", "maximum", "pattern")


class UnsupportedSwagger(ValueError):
    """The document uses a Swagger 2 construct this converter does not translate."""


def _refs(node: Any) -> Any:
    """``#/definitions/X`` → ``#/components/schemas/X`` throughout."""
    if isinstance(node, dict):
        return {key: (value.replace("#/definitions/", "#/components/schemas/") if key == "$ref" else _refs(value))
                for key, value in node.items()}
    if isinstance(node, list):
        return [_refs(item) for item in node]
    return node


def _parameter(parameter: dict, where: str) -> dict:
    if parameter.get("in") not in ("query", "header", "path"):
        raise UnsupportedSwagger(f"{where}: parameter {parameter.get('name')!r} in {parameter.get('in')!r}")
    converted = {key: parameter[key] for key in ("name", "in", "description", "required") if key in parameter}
    converted["schema"] = {key: parameter[key] for key in SCHEMA_KEYS if key in parameter}
    return converted


def _operation(operation: dict, consumes: list[str], produces: list[str], where: str) -> dict:
    unknown = set(operation) - {*OPERATION_KEYS, "parameters", "responses", "consumes", "produces"}
    if unknown:
        raise UnsupportedSwagger(f"{where}: operation keys {sorted(unknown)}")
    converted = {key: copy.deepcopy(operation[key]) for key in OPERATION_KEYS if key in operation}
    consumes, produces = operation.get("consumes", consumes), operation.get("produces", produces)
    parameters = []
    for parameter in operation.get("parameters", []):
        if parameter.get("in") == "body":
            converted["requestBody"] = {
                "required": bool(parameter.get("required", False)),
                "content": {media: {"schema": _refs(parameter["schema"])} for media in consumes},
            }
        else:
            parameters.append(_parameter(parameter, where))
    if parameters:
        converted["parameters"] = parameters
    responses = {}
    for status, response in operation["responses"].items():
        answer = {"description": response.get("description", "")}
        if "schema" in response:
            answer["content"] = {media: {"schema": _refs(response["schema"])} for media in produces}
        if set(response) - {"description", "schema"}:
            raise UnsupportedSwagger(f"{where} {status}: response keys {sorted(response)}")
        responses[str(status)] = answer
    converted["responses"] = responses
    return converted


def to_openapi3(document: dict, server_url: str, variables: dict | None = None) -> dict:
    """The OpenAPI 3.0 form of a Swagger 2.0 ``document`` served at ``server_url``."""
    # YAML reads "200:" as an integer key; the JSON the validators expect has string keys only.
    document = json.loads(json.dumps(document))
    validate(document, cls=OpenAPIV2SpecValidator)
    schemes = {}
    for name, scheme in document.get("securityDefinitions", {}).items():
        if scheme.get("type") != "basic":
            raise UnsupportedSwagger(f"security scheme {name!r} of type {scheme.get('type')!r}")
        schemes[name] = {"type": "http", "scheme": "basic"}
    consumes, produces = document.get("consumes", ["application/json"]), document.get("produces", ["application/json"])
    paths = {}
    for path, methods in document["paths"].items():
        if set(methods) - set(HTTP_METHODS):
            raise UnsupportedSwagger(f"{path}: path keys {sorted(set(methods) - set(HTTP_METHODS))}")
        paths[path] = {method: _operation(operation, consumes, produces, f"{method.upper()} {path}")
                       for method, operation in methods.items()}
    server = {"url": server_url, **({"variables": variables} if variables else {})}
    return {
        "openapi": "3.0.3",
        "info": copy.deepcopy(document["info"]),
        "servers": [server],
        "paths": paths,
        "components": {"schemas": _refs(document.get("definitions", {})), "securitySchemes": schemes},
    }
