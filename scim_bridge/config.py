"""Configuration: one YAML file, validated once at start-up (ARCHITECTURE decision 8).

``${NAME}`` in a value is taken from the environment, so secrets never sit in the file; a missing
variable, an unknown key or a bad value stops the start with a message naming the key. Nothing here
is read at import time: ``load_config`` is called by ``create_app`` and the CLI.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import yaml
from marshmallow import ValidationError, fields, validate

from atlassian_clients import UnknownClientType, client_class
from scim_bridge.errors import ConfigError
from scim_bridge.rules.settings import RulesSchema, effective_rules
from scim_bridge.validation import StrictSchema, error_lines

DEFAULT_PATH = "config.yaml"
_VARIABLE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


class ServerSchema(StrictSchema):
    # Public base URL of the SCIM API (e.g. https://scim.example.com/scim/v2) for meta.location and
    # Location headers behind a proxy; None takes it from each request.
    base_url = fields.String(load_default=None, allow_none=True, validate=validate.Regexp(r"^https?://"))
    max_body_bytes = fields.Integer(load_default=1_048_576, validate=validate.Range(min=1024))


class ScimSchema(StrictSchema):
    max_results = fields.Integer(load_default=1000, validate=validate.Range(min=1, max=100_000))
    default_count = fields.Integer(load_default=100, validate=validate.Range(min=1, max=100_000))


class DatabaseSchema(StrictSchema):
    url = fields.String(load_default="sqlite:///scim-bridge.db",
                        validate=validate.Regexp(r"^(sqlite|postgresql)(\+\w+)?://"))


class TokenSchema(StrictSchema):
    name = fields.String(required=True, validate=validate.Regexp(r"^[A-Za-z0-9_.-]{1,64}$"))
    value = fields.String(load_default=None, validate=validate.Length(min=16))
    sha256 = fields.String(load_default=None, validate=validate.Regexp(r"^[0-9a-f]{64}$"))


class AuthSchema(StrictSchema):
    tokens = fields.List(fields.Nested(TokenSchema), load_default=list)


class LoggingSchema(StrictSchema):
    level = fields.String(load_default="INFO", validate=validate.OneOf(["DEBUG", "INFO", "WARNING", "ERROR"]))
    json = fields.Boolean(load_default=True)


class DeliverySchema(StrictSchema):
    wait_seconds = fields.Float(load_default=5.0, validate=validate.Range(min=0, max=55))
    worker = fields.Boolean(load_default=True)
    concurrency = fields.Integer(load_default=4, validate=validate.Range(min=1, max=32))
    lease_seconds = fields.Float(load_default=120.0, validate=validate.Range(min=5))
    poll_seconds = fields.Float(load_default=1.0, validate=validate.Range(min=0.01, max=60))
    backoff_initial = fields.Float(load_default=2.0, validate=validate.Range(min=0.01))
    backoff_max = fields.Float(load_default=300.0, validate=validate.Range(min=0.01))


class HttpSchema(StrictSchema):
    connect_timeout = fields.Float(load_default=5.0, validate=validate.Range(min=0.1))
    read_timeout = fields.Float(load_default=30.0, validate=validate.Range(min=0.1))
    # One operation with all its retries; past it the outbox takes over with its own backoff.
    deadline = fields.Float(load_default=20.0, validate=validate.Range(min=0.1))
    rate = fields.Float(load_default=10.0, validate=validate.Range(min=0.1))
    burst = fields.Integer(load_default=10, validate=validate.Range(min=1))
    pool_size = fields.Integer(load_default=10, validate=validate.Range(min=1))


class TargetSchema(StrictSchema):
    type = fields.String(required=True)
    url = fields.String(required=True, validate=validate.Regexp(r"^https?://", error="must start with http:// or https://"))
    username = fields.String(load_default=None)
    password = fields.String(load_default=None)
    token = fields.String(load_default=None)
    enabled = fields.Boolean(load_default=True)
    rules = fields.Nested(RulesSchema, load_default=dict)
    http = fields.Nested(HttpSchema, load_default=lambda: HttpSchema().load({}))
    # Product client options, e.g. Confluence licence_group, Bitbucket add_to_default_group.
    options = fields.Dict(keys=fields.String(), load_default=dict)


class ConfigSchema(StrictSchema):
    server = fields.Nested(ServerSchema, load_default=lambda: ServerSchema().load({}))
    scim = fields.Nested(ScimSchema, load_default=lambda: ScimSchema().load({}))
    database = fields.Nested(DatabaseSchema, load_default=lambda: DatabaseSchema().load({}))
    auth = fields.Nested(AuthSchema, load_default=lambda: AuthSchema().load({}))
    logging = fields.Nested(LoggingSchema, load_default=lambda: LoggingSchema().load({}))
    delivery = fields.Nested(DeliverySchema, load_default=lambda: DeliverySchema().load({}))
    rules = fields.Nested(RulesSchema, load_default=dict)
    targets = fields.Dict(keys=fields.String(validate=validate.Regexp(r"^[A-Za-z0-9_.-]{1,64}$")),
                          values=fields.Nested(TargetSchema), load_default=dict)


def load_config(path: str | os.PathLike | None = None, *, environ=None) -> dict:
    """Read, substitute and validate the configuration file.

    ``path`` defaults to ``$SCIM_BRIDGE_CONFIG`` or ``config.yaml``; a missing default file means all
    defaults. ``SCIM_BRIDGE_DATABASE_URL`` overrides ``database.url``.
    """
    environ = os.environ if environ is None else environ
    explicit = path or environ.get("SCIM_BRIDGE_CONFIG")
    file = Path(explicit or DEFAULT_PATH)
    if file.exists():
        try:
            raw = yaml.safe_load(file.read_text(encoding="utf-8")) or {}
        except yaml.YAMLError as exc:
            raise ConfigError(f"{file}: not valid YAML ({exc.__class__.__name__} near {_mark(exc)})") from None
    elif explicit:
        raise ConfigError(f"{file}: configuration file not found")
    else:
        raw = {}
    return validate_config(raw, environ=environ, source=str(file))


def validate_config(raw: object, *, environ=None, source: str = "configuration") -> dict:
    environ = os.environ if environ is None else environ
    if not isinstance(raw, dict):
        raise ConfigError(f"{source}: the top level must be a mapping of sections")
    try:
        raw = _substitute(raw, environ, [])
    except ConfigError as exc:
        raise ConfigError(f"{source}: {exc}") from None
    if environ.get("SCIM_BRIDGE_DATABASE_URL"):
        raw = {**raw, "database": {**(raw.get("database") or {}), "url": environ["SCIM_BRIDGE_DATABASE_URL"]}}
    try:
        config = ConfigSchema().load(raw)
    except ValidationError as exc:
        problems = "; ".join(f"{key}: {message}" for key, message in error_lines(exc.messages))
        raise ConfigError(f"{source}: {problems}") from None
    for i, token in enumerate(config["auth"]["tokens"]):
        if (token["value"] is None) == (token["sha256"] is None):
            raise ConfigError(f"{source}: auth.tokens.{i}: give exactly one of value or sha256")
    for name, target in config["targets"].items():
        _check_target(source, name, target, config["rules"])
    return config


def _check_target(source: str, name: str, target: dict, global_rules: dict) -> None:
    try:
        client_class(target["type"])
    except UnknownClientType as exc:
        raise ConfigError(f"{source}: targets.{name}.type: {exc}") from None
    has_basic = target["username"] is not None and target["password"] is not None
    if has_basic == (target["token"] is not None):
        raise ConfigError(
            f"{source}: targets.{name}: give either username and password (basic auth) or token (a personal "
            "access token); Bitbucket admin calls need basic auth"
        )
    try:
        effective_rules(global_rules, target["rules"], target["type"], target=name)
    except ConfigError as exc:
        raise ConfigError(f"{source}: {exc}") from None


def _substitute(value, environ, path: list[str]):
    if isinstance(value, dict):
        return {k: _substitute(v, environ, [*path, str(k)]) for k, v in value.items()}
    if isinstance(value, list):
        return [_substitute(v, environ, [*path, str(i)]) for i, v in enumerate(value)]
    if isinstance(value, str):
        def replace(match: re.Match) -> str:
            name = match.group(1)
            if name not in environ:
                raise ConfigError(f"{'.'.join(path)}: environment variable {name} is not set")
            return environ[name]

        return _VARIABLE.sub(replace, value)
    return value


def _mark(exc: yaml.YAMLError) -> str:
    mark = getattr(exc, "problem_mark", None)
    return f"line {mark.line + 1}, column {mark.column + 1}" if mark else "an unknown position"
