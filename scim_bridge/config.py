"""Configuration: one YAML file, validated once at start-up (docs/architecture.md, decision 8).

``${NAME}`` in a value is taken from the environment, so secrets never sit in the file; a missing
variable, an unknown key or a bad value stops the start with a message naming the key. Nothing here
is read at import time: ``load_config`` is called by ``create_app`` and the CLI.
"""

from __future__ import annotations

import dataclasses
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from marshmallow import ValidationError, fields, post_load, validate

from atlassian_clients import HttpSettings, UnknownClientType, client_class
from atlassian_clients.options import ClientOptions, OptionSpec, option_specs, options_of
from scim_bridge.errors import ConfigError
from scim_bridge.rules.model import TargetRules
from scim_bridge.rules.settings import RulesSchema, effective_rules
from scim_bridge.store.database import Timeouts
from scim_bridge.validation import StrictSchema, error_lines

DEFAULT_PATH = "config.yaml"
_VARIABLE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
# Token names (configured and stored alike) are the audit log's actors.
TOKEN_NAME_PATTERN = r"^[A-Za-z0-9_.-]{1,64}$"


# The validated configuration. Each section's dataclass holds its defaults, the only place they are
# written; the schemas below only validate (no ``load_default`` on a setting) and build these.


@dataclass(frozen=True)
class ServerSettings:
    # Public base URL of the SCIM API (e.g. https://scim.example.com/scim/v2) for meta.location and
    # Location headers behind a proxy; None takes it from each request.
    base_url: str | None = None
    max_body_bytes: int = 1_048_576


@dataclass(frozen=True)
class ScimSettings:
    max_results: int = 1000
    default_count: int = 100
    # /Bulk (RFC 7644 §3.7.4): advertised in /ServiceProviderConfig, refused past them with 413.
    bulk_max_operations: int = 1000
    bulk_max_payload_bytes: int = 1_048_576


@dataclass(frozen=True)
class DatabaseSettings:
    url: str = "sqlite:///scim-bridge.db"
    # Bounds on every wait for the database, in seconds; their defaults are store/database.py's
    # Timeouts, which engines made without settings (tools, tests) use too.
    connect_timeout: float = Timeouts.connect_timeout
    statement_timeout: float = Timeouts.statement_timeout
    pool_timeout: float = Timeouts.pool_timeout
    busy_timeout: float = Timeouts.busy_timeout


@dataclass(frozen=True)
class TokenSettings:
    name: str
    value: str | None = field(default=None, repr=False)
    sha256: str | None = None


@dataclass(frozen=True)
class AuthSettings:
    tokens: tuple[TokenSettings, ...] = ()


@dataclass(frozen=True)
class MetricsSettings:
    # Who may read /metrics: anyone (open), the metrics token (token), or any SCIM token (scim);
    # for token, exactly one of ``token`` (the value) and ``token_sha256`` (its hex digest).
    access: str = "open"
    token: str | None = field(default=None, repr=False)
    token_sha256: str | None = None


@dataclass(frozen=True)
class LoggingSettings:
    level: str = "INFO"
    json: bool = True
    # Access lines are written in batches, at most this many seconds after their requests (0: each at
    # once); other lines always at once, after the access lines before them (scim_bridge/logging.py).
    access_batch_seconds: float = 0.1


@dataclass(frozen=True)
class DeliverySettings:
    wait_seconds: float = 5.0
    worker: bool = True
    concurrency: int = 4
    lease_seconds: float = 120.0
    poll_seconds: float = 1.0
    backoff_initial: float = 2.0
    backoff_max: float = 300.0
    max_defect_attempts: int = 5  # a delivery failing on a bug is parked after this many attempts
    # Licence seats (docs/architecture.md, "Licence seats"): how old a seat count read from a
    # product may be before the guard reads it again, and how often rows parked for seats look again.
    seats_refresh_seconds: float = 60.0


@dataclass(frozen=True)
class ConsoleSettings:
    """The admin console under /admin (scim_bridge/console, docs/console.md). It serves nothing until
    an administrator account exists (``scim-bridge admin create NAME``)."""

    enabled: bool = True
    # Session cookies are Secure (sent over HTTPS only); false only for plain-HTTP development on
    # loopback, and the console then answers loopback clients only.
    secure_cookies: bool = True
    # Signs session cookies; None: one is generated and kept in the database, shared by every worker.
    secret_key: str | None = field(default=None, repr=False)
    session_minutes: int = 480
    # Failed sign-ins allowed per account and per client address within the window (in the database,
    # so it holds across gunicorn workers and instances).
    login_attempts: int = 5
    login_window_seconds: int = 60
    # The zone times are shown in (an IANA name such as Europe/Berlin).
    timezone: str = "UTC"


@dataclass(frozen=True)
class WebhookSettings:
    url: str | None = field(default=None, repr=False)  # None: no webhook (Slack's URL is its secret)
    # json: the alert as structured JSON; slack: {"text": ...}, which Slack and Teams incoming
    # webhooks take.
    format: str = "json"
    timeout: float = 10.0


@dataclass(frozen=True)
class SmtpSettings:
    host: str | None = None  # None: no e-mail
    port: int = 587
    sender: str | None = None  # ``from:`` in YAML
    to: tuple[str, ...] = ()
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    starttls: bool = True
    timeout: float = 10.0


@dataclass(frozen=True)
class AlertsSettings:
    """Messages to an administrator about deliveries (docs/architecture.md, "Alerts")."""

    webhook: WebhookSettings = field(default_factory=WebhookSettings)
    smtp: SmtpSettings = field(default_factory=SmtpSettings)
    batch_seconds: float = 30.0  # what happens within this window is one message
    unreachable_after_seconds: float = 900.0
    # Licence seats in use reaching this share of a target's licence is one alert (until they drop
    # below it again); 1.0: only a full licence.
    seats_share: float = 0.9


@dataclass(frozen=True)
class ReconcileSettings:
    """``reconcile:``: the scheduled reconciliation (docs/running.md, "Scheduled reconciliation")."""

    # Seconds between two runs (``schedule: 6h`` in YAML); None: reconcile only when asked.
    schedule: float | None = None
    # Plan and report only; false also queues the resources found out of line, so the worker
    # repairs them (as ``scim-bridge reconcile`` without --dry-run).
    dry_run: bool = False
    deactivate_unmanaged: bool = False  # as ``--deactivate-unmanaged``: off unless asked


@dataclass(frozen=True)
class TargetSettings:
    """One ``targets.<name>`` entry: ``rules`` merged with the global ``rules:`` (``rules/settings.py``),
    ``http`` the client's own :class:`HttpSettings`, ``options`` an instance of the client class's
    declared ``Options`` (``None`` for a plug-in that declares none)."""

    name: str
    type: str
    url: str
    rules: TargetRules
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    token: str | None = field(default=None, repr=False)
    enabled: bool = True
    http: HttpSettings = field(default_factory=HttpSettings)
    options: ClientOptions | None = None

    def client_options(self) -> dict[str, Any]:
        """``options`` as the keyword arguments of the client's ``from_target``."""
        return {} if self.options is None else dataclasses.asdict(self.options)


@dataclass(frozen=True)
class Settings:
    server: ServerSettings = field(default_factory=ServerSettings)
    scim: ScimSettings = field(default_factory=ScimSettings)
    database: DatabaseSettings = field(default_factory=DatabaseSettings)
    auth: AuthSettings = field(default_factory=AuthSettings)
    metrics: MetricsSettings = field(default_factory=MetricsSettings)
    logging: LoggingSettings = field(default_factory=LoggingSettings)
    delivery: DeliverySettings = field(default_factory=DeliverySettings)
    console: ConsoleSettings = field(default_factory=ConsoleSettings)
    alerts: AlertsSettings = field(default_factory=AlertsSettings)
    reconcile: ReconcileSettings = field(default_factory=ReconcileSettings)
    targets: Mapping[str, TargetSettings] = field(default_factory=dict)


class _Section(StrictSchema):
    """A section whose keys are all optional: what is left out takes the dataclass default."""

    settings: ClassVar[type]

    @post_load
    def _build(self, data: dict, **kwargs):
        return self.settings(**_frozen(data))


def _section(schema: type[_Section]) -> fields.Nested:
    return fields.Nested(schema, load_default=schema.settings)


class ServerSchema(_Section):
    settings = ServerSettings
    base_url = fields.String(allow_none=True, validate=validate.Regexp(r"^https?://"))
    max_body_bytes = fields.Integer(validate=validate.Range(min=1024))


class ScimSchema(_Section):
    settings = ScimSettings
    max_results = fields.Integer(validate=validate.Range(min=1, max=100_000))
    default_count = fields.Integer(validate=validate.Range(min=1, max=100_000))
    bulk_max_operations = fields.Integer(validate=validate.Range(min=1, max=100_000))
    bulk_max_payload_bytes = fields.Integer(validate=validate.Range(min=1024))


class DatabaseSchema(_Section):
    settings = DatabaseSettings
    url = fields.String(validate=validate.Regexp(r"^(sqlite|postgresql)(\+\w+)?://"))
    connect_timeout = fields.Float(validate=validate.Range(min=0.5, max=60))
    statement_timeout = fields.Float(validate=validate.Range(min=0.5, max=300))
    pool_timeout = fields.Float(validate=validate.Range(min=0.1, max=60))
    busy_timeout = fields.Float(validate=validate.Range(min=0.1, max=60))


class TokenSchema(_Section):
    settings = TokenSettings
    name = fields.String(required=True, validate=validate.Regexp(TOKEN_NAME_PATTERN))
    value = fields.String(allow_none=True, validate=validate.Length(min=16))
    sha256 = fields.String(allow_none=True, validate=validate.Regexp(r"^[0-9a-f]{64}$"))


class AuthSchema(_Section):
    settings = AuthSettings
    tokens = fields.List(fields.Nested(TokenSchema))


class MetricsSchema(_Section):
    settings = MetricsSettings
    access = fields.String(validate=validate.OneOf(["open", "token", "scim"]))
    token = fields.String(allow_none=True, validate=validate.Length(min=16))
    token_sha256 = fields.String(allow_none=True, validate=validate.Regexp(r"^[0-9a-f]{64}$"))


class LoggingSchema(_Section):
    settings = LoggingSettings
    level = fields.String(validate=validate.OneOf(["DEBUG", "INFO", "WARNING", "ERROR"]))
    json = fields.Boolean()
    access_batch_seconds = fields.Float(validate=validate.Range(min=0, max=10))


class DeliverySchema(_Section):
    settings = DeliverySettings
    wait_seconds = fields.Float(validate=validate.Range(min=0, max=55))
    worker = fields.Boolean()
    concurrency = fields.Integer(validate=validate.Range(min=1, max=32))
    lease_seconds = fields.Float(validate=validate.Range(min=5))
    poll_seconds = fields.Float(validate=validate.Range(min=0.01, max=60))
    backoff_initial = fields.Float(validate=validate.Range(min=0.01))
    backoff_max = fields.Float(validate=validate.Range(min=0.01))
    max_defect_attempts = fields.Integer(validate=validate.Range(min=1))
    seats_refresh_seconds = fields.Float(validate=validate.Range(min=0))


def _zone(name: str) -> bool:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValidationError(f"unknown time zone {name!r}: give an IANA name such as Europe/Berlin") from None
    return True


class ConsoleSchema(_Section):
    settings = ConsoleSettings
    enabled = fields.Boolean()
    secure_cookies = fields.Boolean()
    secret_key = fields.String(allow_none=True, validate=validate.Length(min=32))
    session_minutes = fields.Integer(validate=validate.Range(min=1, max=10_080))
    login_attempts = fields.Integer(validate=validate.Range(min=1, max=1000))
    login_window_seconds = fields.Integer(validate=validate.Range(min=1, max=86_400))
    timezone = fields.String(validate=_zone)


_ADDRESS = validate.Regexp(r"^[^@\s]+@[^@\s]+$", error="not an e-mail address")


class WebhookSchema(_Section):
    settings = WebhookSettings
    url = fields.String(allow_none=True, validate=validate.Regexp(r"^https?://", error="must start with http:// or https://"))
    format = fields.String(validate=validate.OneOf(["json", "slack"]))
    timeout = fields.Float(validate=validate.Range(min=0.1, max=120))


class SmtpSchema(_Section):
    settings = SmtpSettings
    host = fields.String(allow_none=True)
    port = fields.Integer(validate=validate.Range(min=1, max=65535))
    sender = fields.String(allow_none=True, data_key="from", validate=_ADDRESS)
    to = fields.List(fields.String(validate=_ADDRESS))
    username = fields.String(allow_none=True)
    password = fields.String(allow_none=True)
    starttls = fields.Boolean()
    timeout = fields.Float(validate=validate.Range(min=0.1, max=120))


class AlertsSchema(_Section):
    settings = AlertsSettings
    # Nested without a load_default: left out, the dataclass's default_factory builds the section.
    webhook = fields.Nested(WebhookSchema)
    smtp = fields.Nested(SmtpSchema)
    batch_seconds = fields.Float(validate=validate.Range(min=0, max=3600))
    unreachable_after_seconds = fields.Float(validate=validate.Range(min=0))
    seats_share = fields.Float(validate=validate.Range(min=0.01, max=1.0))


_SCHEDULE = re.compile(r"^(\d+)\s*([smhd])$")
_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86_400}


class Interval(fields.Field):
    """A period as people write it: ``30m``, ``6h``, ``1d`` (also ``45s``); loads to seconds."""

    default_error_messages = {"invalid": "give a number and a unit (s, m, h or d), e.g. 30m, 6h or 1d"}

    def _deserialize(self, value, attr, data, **kwargs):
        match = _SCHEDULE.fullmatch(value.strip()) if isinstance(value, str) else None
        if not match or int(match.group(1)) == 0:
            raise self.make_error("invalid")
        return float(int(match.group(1)) * _SECONDS[match.group(2)])


class ReconcileSchema(_Section):
    settings = ReconcileSettings
    schedule = Interval(allow_none=True)
    dry_run = fields.Boolean()
    deactivate_unmanaged = fields.Boolean()


class HttpSchema(_Section):
    """``targets.<name>.http``: every field of ``atlassian_clients.HttpSettings``, which it builds."""

    settings = HttpSettings
    connect_timeout = fields.Float(validate=validate.Range(min=0.1))
    read_timeout = fields.Float(validate=validate.Range(min=0.1))
    deadline = fields.Float(validate=validate.Range(min=0.1))
    backoff_initial = fields.Float(validate=validate.Range(min=0.01))
    backoff_max = fields.Float(validate=validate.Range(min=0.01))
    rate = fields.Float(validate=validate.Range(min=0.1))
    burst = fields.Integer(validate=validate.Range(min=1))
    pool_size = fields.Integer(validate=validate.Range(min=1))


class TargetSchema(StrictSchema):
    """Loads to a dict: its rules and options are checked against the global rules and the client
    class in ``_target``, which builds the :class:`TargetSettings`."""

    type = fields.String(required=True)
    url = fields.String(required=True, validate=validate.Regexp(r"^https?://", error="must start with http:// or https://"))
    username = fields.String(allow_none=True)
    password = fields.String(allow_none=True)
    token = fields.String(allow_none=True)
    enabled = fields.Boolean()
    rules = fields.Nested(RulesSchema, load_default=dict)
    http = _section(HttpSchema)
    # The client class's declared options (atlassian_clients/options.py), checked in _target.
    options = fields.Dict(keys=fields.String(), load_default=dict)


class ConfigSchema(StrictSchema):
    server = _section(ServerSchema)
    scim = _section(ScimSchema)
    database = _section(DatabaseSchema)
    auth = _section(AuthSchema)
    metrics = _section(MetricsSchema)
    logging = _section(LoggingSchema)
    delivery = _section(DeliverySchema)
    console = _section(ConsoleSchema)
    alerts = _section(AlertsSchema)
    reconcile = _section(ReconcileSchema)
    rules = fields.Nested(RulesSchema, load_default=dict)
    targets = fields.Dict(keys=fields.String(validate=validate.Regexp(r"^[A-Za-z0-9_.-]{1,64}$")),
                          values=fields.Nested(TargetSchema), load_default=dict)


def load_config(path: str | os.PathLike | None = None, *, environ=None) -> Settings:
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


def validate_config(raw: object, *, environ=None, source: str = "configuration") -> Settings:
    """The :class:`Settings` of a configuration as written in YAML (a mapping of sections)."""
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
        loaded = ConfigSchema().load(raw)
    except ValidationError as exc:
        raise ConfigError(f"{source}: {_problems(exc)}") from None
    for i, token in enumerate(loaded["auth"].tokens):
        if (token.value is None) == (token.sha256 is None):
            raise ConfigError(f"{source}: auth.tokens.{i}: give exactly one of value or sha256")
    _check_metrics(source, loaded["metrics"])
    _check_smtp(source, loaded["alerts"].smtp)
    global_rules = loaded.pop("rules")
    try:
        targets = {name: _target(name, target, global_rules) for name, target in loaded.pop("targets").items()}
    except ConfigError as exc:
        raise ConfigError(f"{source}: {exc}") from None
    return Settings(**loaded, targets=targets)


def _check_metrics(source: str, metrics: MetricsSettings) -> None:
    has_token = (metrics.token is not None, metrics.token_sha256 is not None)
    if metrics.access == "token" and sum(has_token) != 1:
        raise ConfigError(f"{source}: metrics: access: token needs exactly one of metrics.token or "
                          "metrics.token_sha256")
    if metrics.access != "token" and any(has_token):
        raise ConfigError(f"{source}: metrics: a metrics token is set but metrics.access is "
                          f"{metrics.access!r}: set access: token to require it")


def _check_smtp(source: str, smtp: SmtpSettings) -> None:
    if smtp.host is not None and (smtp.sender is None or not smtp.to):
        raise ConfigError(f"{source}: alerts.smtp: a host is set: give from (the sender) and to (a list of "
                          "addresses) as well")
    if (smtp.username is None) != (smtp.password is None):
        raise ConfigError(f"{source}: alerts.smtp: give both username and password, or neither")


def _target(name: str, target: dict, global_rules: dict) -> TargetSettings:
    where = f"targets.{name}"
    try:
        cls = client_class(target["type"])
    except UnknownClientType as exc:
        raise ConfigError(f"{where}.type: {exc}") from None
    has_basic = target.get("username") is not None and target.get("password") is not None
    if has_basic == (target.get("token") is not None):
        raise ConfigError(
            f"{where}: give either username and password (basic auth) or token (a personal "
            "access token); Bitbucket admin calls need basic auth"
        )
    rules = effective_rules(global_rules, target.pop("rules"), target["type"], target=name)
    options = client_options(f"{where}.options", target["type"], cls, target.pop("options"))
    return TargetSettings(name=name, rules=rules, options=options, **target)


class _AsWritten:
    """A number as YAML writes it: ``"5"`` and ``true`` are not numbers (marshmallow would take them)."""

    def _deserialize(self, value, attr, data, **kwargs):
        if isinstance(value, (bool, str)):
            raise self.make_error("invalid")  # type: ignore[attr-defined]
        return super()._deserialize(value, attr, data, **kwargs)  # type: ignore[misc]


class _Integer(_AsWritten, fields.Integer):
    pass


class _Float(_AsWritten, fields.Float):
    pass


_OPTION_FIELDS = {
    bool: lambda: fields.Boolean(truthy={True}, falsy={False}),
    int: lambda: _Integer(strict=True),
    float: _Float,
    str: fields.String,
    tuple[str, ...]: lambda: fields.List(fields.String()),
}


def client_options(where: str, type_name: str, cls: type, raw: Mapping[str, Any]) -> ClientOptions | None:
    """``raw`` checked against the ``Options`` that ``cls`` declares; errors name ``where.<key>``."""
    declared = options_of(cls)
    try:
        specs = option_specs(declared) if declared is not None else ()
    except TypeError as exc:  # a plug-in declaring an option YAML cannot give
        raise ConfigError(f"{where}: {type_name} declares an unusable option: {exc}") from None
    unknown = [key for key in raw if key not in {spec.name for spec in specs}]
    if unknown:
        takes = _takes(type_name, specs)
        raise ConfigError("; ".join(f"{where}.{key}: unknown option; {takes}" for key in unknown))
    if declared is None:
        return None
    schema = StrictSchema.from_dict({spec.name: _OPTION_FIELDS[spec.type]() for spec in specs})()
    try:
        return declared(**_frozen(schema.load(raw)))
    except ValidationError as exc:
        raise ConfigError(_problems(exc, where)) from None


def _frozen(data: dict) -> dict:
    """Lists as tuples, for frozen dataclasses."""
    return {k: tuple(v) if isinstance(v, list) else v for k, v in data.items()}


def _takes(type_name: str, specs: tuple[OptionSpec, ...]) -> str:
    if not specs:
        return f"{type_name} takes no options (its class declares no Options)"
    return f"{type_name} takes: " + ", ".join(spec.describe() for spec in specs)


def _problems(exc: ValidationError, prefix: str = "") -> str:
    """marshmallow's errors as "key.path: message", each key under ``prefix``."""
    return "; ".join(f"{prefix}.{key}: {message}" if prefix else f"{key}: {message}"
                     for key, message in error_lines(exc.messages))


def _substitute(value, environ, path: list[str]):
    """``value`` with each ``${NAME}`` replaced from ``environ``; every missing variable is named in
    one ConfigError, so an operator sets them all in one go rather than one per start."""
    missing: list[str] = []
    done = _replace_variables(value, environ, path, missing)
    if missing:
        raise ConfigError("; ".join(missing))
    return done


def _replace_variables(value, environ, path: list[str], missing: list[str]):
    if isinstance(value, dict):
        return {k: _replace_variables(v, environ, [*path, str(k)], missing) for k, v in value.items()}
    if isinstance(value, list):
        return [_replace_variables(v, environ, [*path, str(i)], missing) for i, v in enumerate(value)]
    if isinstance(value, str):
        def replace(match: re.Match) -> str:
            name = match.group(1)
            if name not in environ:
                missing.append(f"{'.'.join(path)}: environment variable {name} is not set")
                return ""
            return environ[name]

        return _VARIABLE.sub(replace, value)
    return value


def _mark(exc: yaml.YAMLError) -> str:
    mark = getattr(exc, "problem_mark", None)
    return f"line {mark.line + 1}, column {mark.column + 1}" if mark else "an unknown position"
