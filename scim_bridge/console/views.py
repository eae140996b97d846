"""The console's pages. Every route but the sign-in needs a signed-in administrator (a bearer token
opens nothing here), and every form post needs its CSRF token."""

from __future__ import annotations

import hmac
import logging
from datetime import timedelta

import sqlalchemy as sa
from flask import (
    Blueprint,
    Response,
    abort,
    flash,
    g,
    make_response,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException

from scim_bridge.auth import InvalidTokenName, create_token, list_tokens, revoke_token_id
from scim_bridge.checks import ChecksBusy
from scim_bridge.console import PREFIX, ConsoleContext
from scim_bridge.console.present import general_rows, side_by_side
from scim_bridge.console.runs import RunBusy, schedule_view
from scim_bridge.console.session import is_loopback
from scim_bridge.store.database import database_unavailable, describe
from scim_bridge.store.models import utcnow
from scim_bridge.sync.outbox import Outbox

log = logging.getLogger("scim_bridge.console")

# Pages that serve a visitor who is not signed in.
OPEN = {"console.login", "console.static"}

SECURITY_HEADERS = {
    # Scripts, styles and forms of the console's own origin only; never framed (clickjacking).
    "Content-Security-Policy": "default-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'",
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}


def blueprint(ctx: ConsoleContext) -> Blueprint:
    bp = Blueprint("console", __name__, url_prefix=PREFIX, template_folder="templates",
                   static_folder="static", static_url_path="/static")

    @bp.before_request
    def guard():
        if not ctx.settings.console.secure_cookies and not is_loopback(request.remote_addr):
            # Cookies without Secure would cross the network in clear text.
            return _page("console/message.html", 403, title="Loopback only",
                         message="console.secure_cookies is false, so the console answers only on this "
                                 "machine (loopback). Serve it over HTTPS and set secure_cookies: true.")
        if request.endpoint == "console.static":
            return None
        admin = _signed_in(ctx)
        # A signed-in administrator is an account: the count is needed only without one.
        if admin is None and not ctx.accounts.exists_any():
            return _page("console/message.html", 404, title="No administrator yet",
                         message="The console opens once an administrator account exists: on the server, "
                                 "run `scim-bridge admin create NAME`.")
        if request.method == "POST":
            ctx.csrf.protect()
        if admin is None:
            session.pop("admin_id", None)
            if request.endpoint in OPEN:
                return None
            return _to_login()
        g.admin = admin
        g.actor = f"admin:{admin.name}"  # the access log's actor
        return None

    @bp.after_request
    def headers(response: Response) -> Response:
        response.headers.update(SECURITY_HEADERS)
        return response

    @bp.context_processor
    def helpers():
        return {"when": ctx.clock.when, "age": ctx.clock.age, "now": utcnow(), "admin": g.get("admin"),
                "zone": ctx.settings.console.timezone}

    # -- signing in and out -------------------------------------------------------------------------

    @bp.route("/login", methods=["GET", "POST"])
    def login():
        if g.get("admin") is not None and request.method == "GET":
            return redirect(url_for("console.overview"))
        if request.method == "GET":
            return render_template("console/login.html", next=_safe_next(request.args.get("next")))
        name = request.form.get("name", "").strip()[:64]
        password = request.form.get("password", "")
        address = request.remote_addr or "-"
        next_url = _safe_next(request.form.get("next"))
        if ctx.throttle.blocked(name, address):
            # Never the name typed: a password typed into the name field would land in the log.
            log.warning("console sign-in refused: too many failures (address %s)", address)
            return _page("console/login.html", 429, next=next_url, name=name,
                         error="Too many failed sign-ins for this account or from this address: wait a "
                               "minute, then try again.")
        admin = ctx.accounts.authenticate(name, password) if name and password else None
        if admin is None:
            ctx.throttle.failed(name, address)
            log.warning("console sign-in failed (address %s)", address)
            return _page("console/login.html", 401, next=next_url, name=name,
                         error="That name and password do not match an administrator account.")
        session.clear()
        session.permanent = True
        session["admin_id"], session["admin_fp"] = admin.id, admin.fingerprint
        log.info("console sign-in: %s from %s", admin.name, address, extra={"admin": admin.name})
        return redirect(next_url or url_for("console.overview"))

    @bp.post("/logout")
    def logout():
        session.clear()
        return redirect(url_for("console.login"))

    # -- overview and problems ----------------------------------------------------------------------

    @bp.get("/")
    def overview():
        return render_template("console/overview.html", targets=ctx.reads.overview(),
                               parked=ctx.reads.parked_count())

    @bp.get("/problems")
    def problems():
        return render_template("console/problems.html", problems=ctx.reads.problems())

    @bp.post("/problems/retry")
    def retry():
        target = request.form.get("target") or None
        row = request.form.get("row")
        ids = [int(row)] if row and row.isdigit() else None
        if row and ids is None:
            abort(400)
        count = Outbox(ctx.engine, owner="console").requeue_parked(target, ids)
        if ctx.sync is not None:
            ctx.sync.worker.notify()
        log.info("console retry by %s: %d parked row(s) queued again", g.admin.name, count,
                 extra={"admin": g.admin.name})
        flash(f"{count} parked delivery(ies) queued again." if count else
              "Nothing was parked any more: it may have been delivered or retried meanwhile.")
        return redirect(url_for("console.problems"))

    # -- people -------------------------------------------------------------------------------------

    @bp.get("/people")
    def people():
        query = request.args.get("q", "")[:256]
        return render_template("console/people.html", query=query,
                               matches=ctx.reads.search_people(query) if query.strip() else None)

    @bp.get("/people/<user_id>")
    def person(user_id: str):
        found = ctx.reads.person(user_id[:64])
        if found is None:
            abort(404)
        return render_template("console/person.html", person=found)

    # -- reconciliation -----------------------------------------------------------------------------

    @bp.get("/reconcile")
    def reconcile():
        return render_template("console/reconcile.html", targets=ctx.runs.targets, runs=ctx.runs.recent(),
                               schedule=schedule_view(ctx.engine, ctx.settings.reconcile))

    @bp.post("/reconcile")
    def reconcile_start():
        known = ctx.runs.targets
        chosen = [t for t in request.form.getlist("target") if t in known] or known
        if not chosen:
            flash("No enabled target: there is nothing to reconcile.")
            return redirect(url_for("console.reconcile"))
        try:
            run_id = ctx.runs.start(g.admin.name, chosen, dry_run=request.form.get("mode") != "apply",
                                    deactivate_unmanaged=request.form.get("deactivate_unmanaged") == "on")
        except RunBusy as busy:
            flash("A reconciliation is running already: wait for it to finish.")
            return redirect(url_for("console.reconcile_run", run_id=busy.args[0]))
        return redirect(url_for("console.reconcile_run", run_id=run_id))

    @bp.get("/reconcile/<int:run_id>")
    def reconcile_run(run_id: int):
        return render_template("console/reconcile_run.html", run=_run(run_id))

    @bp.get("/reconcile/<int:run_id>/status")
    def reconcile_status(run_id: int):
        return render_template("console/run_status.html", run=_run(run_id))

    def _run(run_id: int):
        run = ctx.runs.get(run_id)
        if run is None:
            abort(404)
        return run

    # -- configuration and tokens -------------------------------------------------------------------

    @bp.get("/configuration")
    def configuration():
        return _configuration()

    def _configuration(status: int = 200, **extra):
        settings = ctx.settings
        names, rows = side_by_side(dict(settings.targets))
        return _page("console/configuration.html", status, general=general_rows(settings), names=names, rows=rows,
                     tokens=list_tokens(ctx.engine, settings.auth.tokens), check=ctx.checks.latest(), **extra)

    @bp.post("/configuration/checks")
    def checks_start():
        # check-config's checks (checks.check_all), waited for a few seconds; the page shows the latest run.
        try:
            ctx.checks.start(g.admin.name)
        except ChecksBusy:
            flash("The checks are running already: their result shows here when they finish.")
        return redirect(url_for("console.configuration") + "#checks")

    @bp.get("/configuration/checks")
    def checks_status():
        return render_template("console/checks_status.html", check=ctx.checks.latest())

    @bp.post("/tokens")
    def token_create():
        # The token functions of auth.py, as `scim-bridge token create NAME [--expires]` uses them.
        name = request.form.get("name", "").strip()
        days = request.form.get("expires_days", "").strip()
        if days and not (days.isdigit() and 0 < int(days) <= 3650):
            return _configuration(400, token_error="Expiry: a number of days from 1 to 3650, or empty for none.")
        try:
            issued = create_token(ctx.engine, name, timedelta(days=int(days)) if days else None)
        except InvalidTokenName as exc:
            return _configuration(400, token_error=str(exc))
        log.info("console: token %s (id %s) created by %s", issued.name, issued.id, g.admin.name,
                 extra={"admin": g.admin.name})
        # Shown in this response only (never stored, flashed or logged); the page is not cached.
        return _configuration(201, new_token=issued)

    @bp.post("/tokens/revoke")
    def token_revoke():
        token_id = request.form.get("id", "")
        name = revoke_token_id(ctx.engine, int(token_id)) if token_id.isdigit() else None
        if name is None:
            flash("That token is not active any more: nothing was revoked.")
        else:
            log.info("console: token %s (id %s) revoked by %s", name, token_id, g.admin.name,
                     extra={"admin": g.admin.name})
            flash(f"Token {name} (id {token_id}) revoked: identity providers using it are refused within seconds.")
        return redirect(url_for("console.configuration"))

    @bp.route("/<path:unknown>", methods=["GET", "POST"])
    def not_found(unknown: str):
        abort(404)

    # -- errors as pages, not SCIM documents ----------------------------------------------------------

    @bp.errorhandler(CSRFError)
    def csrf_refused(error: CSRFError):
        log.warning("console form refused: %s", error.description)
        return _page("console/message.html", 400, title="Form refused",
                     message="This form was not sent from a current console page (its CSRF token is missing "
                             "or expired): reload the page and try again.")

    @bp.errorhandler(HTTPException)
    def http_error(error: HTTPException):
        return _page("console/message.html", error.code or 500, title=error.name,
                     message="No such page or record." if error.code == 404 else error.description)

    @bp.errorhandler(sa.exc.SQLAlchemyError)
    def database_error(error: sa.exc.SQLAlchemyError):
        if not database_unavailable(error):
            return unexpected(error)
        log.warning("console: database unavailable (%s)", describe(error))
        return _page("console/message.html", 503, title="Database unavailable",
                     message="The bridge's database is not answering: try again in a few seconds.")

    @bp.errorhandler(Exception)
    def unexpected(error: Exception):
        request_id = g.get("request_id", "-")
        log.error("console: unexpected %s", error.__class__.__name__, extra={"request_id": request_id})
        return _page("console/message.html", 500, title="Something went wrong",
                     message=f"The console failed to show this page (request id {request_id}; the log has "
                             "it under that id).")

    return bp


def _signed_in(ctx: ConsoleContext):
    admin_id = session.get("admin_id")
    admin = ctx.accounts.get(admin_id) if isinstance(admin_id, int) else None
    if admin is None or not hmac.compare_digest(admin.fingerprint, str(session.get("admin_fp", ""))):
        return None
    return admin


def _page(template: str, status: int, **values) -> Response:
    return make_response(render_template(template, **values), status)


def _to_login() -> Response:
    target = url_for("console.login", next=request.full_path.rstrip("?") if request.method == "GET" else None)
    if request.headers.get("HX-Request"):
        # An htmx poll after the session ended: send the whole page to the sign-in.
        response = make_response("", 401)
        response.headers["HX-Redirect"] = target
        return response
    return redirect(target)


def _safe_next(value: str | None) -> str | None:
    """Only a console path: never another site after signing in."""
    if value and value.startswith(PREFIX + "/") and not value.startswith("//") and "\\" not in value:
        return value
    return None
