"""The bridge's exception tree and the one place it becomes a SCIM error document.

Every error a SCIM client can see is a ``ScimError``. Each subclass carries the HTTP status and the
``scimType`` that RFC 7644 §3.12 names for it; ``error_document`` is the only function that turns one
into JSON, so no other code builds error bodies and no traceback can reach a response.
"""

from __future__ import annotations

ERROR_SCHEMA = "urn:ietf:params:scim:api:messages:2.0:Error"


class ScimError(Exception):
    """An error answered to the SCIM client. ``detail`` must tell a person what to change."""

    status: int = 400
    scim_type: str | None = None

    def __init__(self, detail: str, *, headers: dict[str, str] | None = None):
        super().__init__(detail)
        self.detail = detail
        self.headers = dict(headers or {})


class InvalidSyntax(ScimError):
    """The request body could not be parsed or violates the schema (RFC 7644 §3.12)."""

    scim_type = "invalidSyntax"


class InvalidFilter(ScimError):
    scim_type = "invalidFilter"


class TooMany(ScimError):
    """More than the server is willing to process (RFC 7644 §3.12), such as a filter of too many terms."""

    scim_type = "tooMany"


class InvalidPath(ScimError):
    scim_type = "invalidPath"


class NoTarget(ScimError):
    scim_type = "noTarget"


class InvalidValue(ScimError):
    scim_type = "invalidValue"


class Mutability(ScimError):
    scim_type = "mutability"


class Uniqueness(ScimError):
    status = 409
    scim_type = "uniqueness"


class Unauthorized(ScimError):
    status = 401

    def __init__(self, detail: str):
        # RFC 6750 §3: a bearer-protected resource names its scheme in the challenge.
        super().__init__(detail, headers={"WWW-Authenticate": 'Bearer realm="scim-bridge"'})


class Forbidden(ScimError):
    status = 403


class NotFound(ScimError):
    status = 404


class MethodNotAllowed(ScimError):
    status = 405

    def __init__(self, detail: str, allowed: list[str]):
        super().__init__(detail, headers={"Allow": ", ".join(allowed)})


class PreconditionFailed(ScimError):
    status = 412


class PayloadTooLarge(ScimError):
    status = 413


class UnsupportedMediaType(ScimError):
    status = 415


class NotImplementedByServer(ScimError):
    status = 501


class ServiceUnavailable(ScimError):
    """The bridge cannot serve the request now but will later; ``Retry-After`` says when to try again
    (RFC 7231 §7.1.3), which is what identity providers act on."""

    status = 503

    def __init__(self, detail: str, *, retry_after: int):
        super().__init__(detail, headers={"Retry-After": str(retry_after)})


class InternalError(ScimError):
    """An unexpected failure: the detail never says more than that, the log has the rest."""

    status = 500


class ConfigError(Exception):
    """A configuration file or value that stops the bridge from starting; the message names the key."""


def error_document(error: ScimError) -> dict:
    """RFC 7644 §3.12 error body. ``status`` is a string there, as the RFC's examples show."""
    body: dict = {"schemas": [ERROR_SCHEMA], "status": str(error.status), "detail": error.detail}
    if error.scim_type:
        body["scimType"] = error.scim_type
    return body
