"""The one error boundary (docs/architecture.md decision 7): every failure leaves as an RFC 7644 §3.12 error.

Handlers raise ``ScimError``s; a ``RuleError`` (the configured rules cannot translate the resource:
the client's to fix) answers 400 ``invalidValue``; HTTP errors raised by Flask (unknown route, wrong
method, body too large) are translated here; a database that cannot be reached (refused, timed out,
pool exhausted, locked) is a 503 with ``Retry-After``; anything else is logged without its traceback
and answered with a 500 whose detail names the request id, never the exception.
"""

from __future__ import annotations

import logging

import sqlalchemy as sa
from flask import Flask, g
from werkzeug.exceptions import HTTPException, MethodNotAllowed, NotFound, RequestEntityTooLarge

from scim_bridge import errors
from scim_bridge.api.context import scim_response
from scim_bridge.rules.errors import RuleError
from scim_bridge.store.database import database_unavailable, describe

log = logging.getLogger("scim_bridge.errors")

# Seconds an identity provider is asked to wait before retrying while the database is unreachable:
# long enough for a restart or a failover to finish, short enough that provisioning resumes soon.
RETRY_AFTER_SECONDS = 10


def register_error_boundary(app: Flask) -> None:
    app.register_error_handler(errors.ScimError, _scim_error)
    app.register_error_handler(RuleError, _rule_error)
    app.register_error_handler(HTTPException, _http_error)
    app.register_error_handler(sa.exc.SQLAlchemyError, _database_error)
    app.register_error_handler(Exception, _unexpected)


def _scim_error(error: errors.ScimError):
    return scim_response(errors.error_document(error), error.status, error.headers)


def scim_error_of(error: RuleError) -> errors.ScimError:
    """The SCIM error a rule error is answered with, here and per operation in /Bulk (api/bulk.py):
    the resource as sent is what the rules cannot translate, so the client is to change it."""
    return errors.InvalidValue(error.detail)


def _rule_error(error: RuleError):
    return _scim_error(scim_error_of(error))


def _http_error(error: HTTPException):
    if isinstance(error, NotFound):
        mapped: errors.ScimError = errors.NotFound(
            "No such endpoint: the SCIM API lives under /scim/v2 (Users, Groups, ServiceProviderConfig, "
            "ResourceTypes, Schemas)."
        )
    elif isinstance(error, MethodNotAllowed):
        allowed = sorted(set(error.valid_methods or []) - {"HEAD", "OPTIONS"})
        mapped = errors.MethodNotAllowed(
            f"This endpoint does not accept that method; it accepts {', '.join(allowed) or 'none'}.", allowed
        )
    elif isinstance(error, RequestEntityTooLarge):
        mapped = errors.PayloadTooLarge(
            "The request body is larger than this server accepts (see bulk.maxPayloadSize and the "
            "server.max_body_bytes setting): send a smaller request."
        )
    else:
        mapped = errors.ScimError(error.description or error.name)
        mapped.status = error.code or 500
    return _scim_error(mapped)


def _database_error(error: sa.exc.SQLAlchemyError):
    if not database_unavailable(error):
        return _unexpected(error)
    request_id = g.get("request_id", "-")
    log.warning("database unavailable (%s) while handling the request", describe(error),
                extra={"request_id": request_id})
    return _scim_error(errors.ServiceUnavailable(
        f"The bridge's database is not answering at the moment (request id {request_id}): retry in "
        f"{RETRY_AFTER_SECONDS} seconds.",
        retry_after=RETRY_AFTER_SECONDS,
    ))


def _unexpected(error: Exception):
    request_id = g.get("request_id", "-")
    # The message only: a traceback could carry request data into the log.
    log.error("unexpected %s while handling the request: %s", error.__class__.__name__, str(error)[:300],
              extra={"request_id": request_id})
    return _scim_error(errors.InternalError(
        f"The bridge failed to handle this request (request id {request_id}); the operator can find it "
        "in the log by that id. Nothing was changed unless the response said so."
    ))
