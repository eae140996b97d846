"""The shipped Atlassian fakes, served on a loopback port, with every answer checked against OpenAPI.

with checked_fakes() as fakes:
    ...  # talk to fakes.base_url("jira") etc.
# on leaving: every response the fakes gave (bar injected faults) must fit the product's
# OpenAPI document; a misfit fails the test with the list of offending exchanges.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from atlassian_clients.fakes import RunningFakes, start_fakes
from atlassian_clients.fakes.rest import Exchange
from tests.support.openapi_contract import DOCUMENTS, openapi_dir, validate_response


def contract_failures(exchanges: list[Exchange]) -> list[str]:
    """Exchanges whose response the product's OpenAPI document does not allow."""
    failures = []
    for exchange in exchanges:
        if exchange.injected:
            continue  # a fault the knobs made up, not a product answer
        try:
            validate_response(
                exchange.product,
                exchange.method,
                exchange.url,
                exchange.status,
                exchange.response_headers,
                exchange.response_body,
            )
        except AssertionError as violation:
            failures.append(str(violation))
    return failures


def documents_present() -> bool:
    return all((openapi_dir() / document.file_name).is_file() for document in DOCUMENTS.values())


@contextmanager
def checked_fakes(**options: Any) -> Iterator[RunningFakes]:
    """start_fakes(record=True, **options); on a clean exit, check every recorded response."""
    with start_fakes(record=True, **options) as fakes:
        yield fakes
        exchanges = fakes.exchanges()
    if documents_present():
        failures = contract_failures(exchanges)
        assert not failures, f"{len(failures)} fake responses do not fit the OpenAPI documents:\n" + "\n\n".join(
            failures
        )


@contextmanager
def unchecked(fakes: RunningFakes) -> Iterator[None]:
    """Calls made inside are not recorded (deliberately off-contract requests, e.g. unknown paths)."""
    fakes.recorder.enabled = False
    try:
        yield
    finally:
        fakes.recorder.enabled = True
