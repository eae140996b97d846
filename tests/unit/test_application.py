"""The app object: Flask's per-request check of each hook for a coroutine, made once per function."""

from __future__ import annotations

import pytest
from flask import Flask

from tests.support.bridge import ScimClient, bridge_app


def test_the_coroutine_check_is_kept_per_function_and_the_cache_stays_bounded(engine):
    app = bridge_app(engine)
    assert ScimClient(app).get("/Users").status == 200
    hooks = app.before_request_funcs[None] + app.after_request_funcs[None]
    assert hooks and all(app.ensure_sync(hook) is hook for hook in hooks)
    assert all(hook in app._synced for hook in hooks)  # kept from the request's own checks
    for _ in range(1000):  # a function made per request (after_this_request) must not grow it forever
        def made_per_request(response):
            return response
        assert app.ensure_sync(made_per_request) is made_per_request
    assert len(app._synced) <= app._SYNCED_MAX


def test_a_method_of_an_object_made_per_request_is_not_kept(engine):
    """A class-based view's method: a new object each request, which the cache must not hold on to."""
    class PerRequest:
        def view(self):
            return "ok"

    app = bridge_app(engine)
    before = len(app._synced)
    for _ in range(10):
        method = PerRequest().view
        assert app.ensure_sync(method) == method
    assert len(app._synced) == before


def test_a_coroutine_is_treated_as_flask_treats_it(engine):
    async def view():
        return "ok"

    app = bridge_app(engine)
    try:
        expected = Flask("plain").ensure_sync(view)
    except RuntimeError as refused:  # Flask without its async extra
        with pytest.raises(RuntimeError, match=str(refused)[:30]):
            app.ensure_sync(view)
    else:
        assert app.ensure_sync(view) is not view and expected is not view
