"""A small interpreter of Runscope (BlazeMeter API Monitoring) test exports.

It runs the parts of the export format that Okta's "SCIM 2.0 SPEC Test" uses, against a live server:
request steps with ``{{variable}}`` substitution in the URL, headers and body; variables extracted
from the JSON response for later steps; the assertion comparisons listed in ``COMPARISONS``; pause
steps, which are skipped (they only pace a hosted monitor). A step's JavaScript ``scripts`` cannot
run here: the caller passes a Python translation for each step that has one, keyed by the step's
``note``, and a step with a script but no translation fails instead of passing silently.

Runscope compares as its UI does: ``equal`` compares the JSON value's text form with the expected
text (``true`` equals "true", ``0`` equals "0"); ``equal_number`` and ``is_less_than`` compare
numbers; ``is_a_number`` wants a JSON number (not a numeric string: Okta needs integers there).
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import requests

_VARIABLE = re.compile(r"\{\{\s*([A-Za-z0-9_]+)\s*\}\}")
_PROPERTY_PART = re.compile(r"\[(\d+)\]|([^.\[\]]+)")
_MISSING = object()

ScriptCheck = Callable[[requests.Response], list[str]]  # returns the failed checks' descriptions


@dataclass(frozen=True)
class Failure:
    step: str
    assertion: str
    actual: str

    def __str__(self) -> str:
        return f"[{self.step}] {self.assertion}: got {self.actual}"


@dataclass
class Report:
    requests: int = 0
    assertions: int = 0
    pauses_skipped: int = 0
    failures: list[Failure] = field(default_factory=list)


class MissingVariable(LookupError):
    """A step uses a ``{{variable}}`` that neither the initial variables nor an earlier step set."""


def substitute(text: str, variables: dict[str, str]) -> str:
    def value(match: re.Match) -> str:
        name = match.group(1)
        if name not in variables:
            raise MissingVariable(f"{{{{{name}}}}}, which no earlier step set")
        return str(variables[name])

    return _VARIABLE.sub(value, text)


def json_property(document: object, path: str) -> object:
    """A Runscope property path (``Resources[0].name.givenName``); ``_MISSING`` when absent."""
    current = document
    for index, name in _PROPERTY_PART.findall(path):
        if index:
            if not isinstance(current, list) or int(index) >= len(current):
                return _MISSING
            current = current[int(index)]
        else:
            if not isinstance(current, dict) or name not in current:
                return _MISSING
            current = current[name]
    return current


def _text(value: object) -> str:
    if value is _MISSING:
        return "(absent)"
    if isinstance(value, str):
        return value
    return json.dumps(value)


def _number(value: object) -> float | None:
    if isinstance(value, bool) or value is _MISSING or value is None:
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def _not_empty(actual: object, _expected: str) -> bool:
    return actual is not _MISSING and actual not in (None, "", [], {})


def _equal(actual: object, expected: str) -> bool:
    return actual is not _MISSING and _text(actual) == expected


def _equal_number(actual: object, expected: str) -> bool:
    number = _number(actual)
    return number is not None and number == float(expected)


def _has_value(actual: object, expected: str) -> bool:
    return isinstance(actual, list) and expected in [_text(item) for item in actual]


def _contains(actual: object, expected: str) -> bool:
    if isinstance(actual, list):
        return _has_value(actual, expected)
    return isinstance(actual, str) and expected in actual


def _is_a_number(actual: object, _expected: str) -> bool:
    return isinstance(actual, int | float) and not isinstance(actual, bool)


def _is_less_than(actual: object, expected: str) -> bool:
    number = _number(actual)
    return number is not None and number < float(expected)


COMPARISONS: dict[str, Callable[[object, str], bool]] = {
    "equal": _equal,
    "equal_number": _equal_number,
    "not_empty": _not_empty,
    "has_value": _has_value,
    "contains": _contains,
    "is_a_number": _is_a_number,
    "is_less_than": _is_less_than,
}


class RunscopeReplay:
    """Replays the steps of one exported test. ``clock`` (seconds, monotonic) times ``response_time``."""

    def __init__(
        self,
        variables: dict[str, str],
        *,
        scripts: dict[str, ScriptCheck] | None = None,
        session: requests.Session | None = None,
        clock: Callable[[], float] = time.perf_counter,
        timeout: float = 30.0,
    ):
        self.variables = dict(variables)
        self.scripts = scripts or {}
        self.session = session or requests.Session()
        self.clock = clock
        self.timeout = timeout

    def run(self, steps: list[dict]) -> Report:
        report = Report()
        for number, step in enumerate(steps, start=1):
            if step.get("skipped"):
                continue
            kind = step.get("step_type")
            if kind == "pause":
                report.pauses_skipped += 1
            elif kind == "request":
                report.requests += 1
                name = f"request {report.requests} ({step.get('note', '').strip()})"
                try:
                    self._request(step, name, report)
                except MissingVariable as missing:
                    report.failures.append(Failure(name, f"request uses {missing}", "not sent"))
            else:
                report.failures.append(Failure(f"step {number}", f"step type {kind!r}", "not supported here"))
        return report

    def _request(self, step: dict, name: str, report: Report) -> None:
        headers = {key: substitute(", ".join(values), self.variables) for key, values in step["headers"].items()}
        body = step.get("body")
        started = self.clock()
        response = self.session.request(
            step["method"],
            substitute(step["url"], self.variables),
            headers=headers,
            data=substitute(body, self.variables).encode() if body else None,
            timeout=self.timeout,
        )
        elapsed_ms = (self.clock() - started) * 1000
        try:
            document = response.json() if response.content else _MISSING
        except ValueError:
            document = _MISSING
        sources = {
            "response_status": lambda _prop: response.status_code,
            "response_time": lambda _prop: elapsed_ms,
            "response_json": lambda prop: json_property(document, prop),
        }
        for assertion in step.get("assertions", []):
            report.assertions += 1
            source, comparison = assertion["source"], assertion["comparison"]
            expected = substitute(assertion["value"] or "", self.variables)
            prop = assertion.get("property")
            described = f"{source}{'.' + prop if prop else ''} {comparison}"
            if assertion["value"] is not None:
                described += f" {expected!r}"
            compare = COMPARISONS.get(comparison)
            if compare is None or source not in sources:
                report.failures.append(Failure(name, described, "an assertion this interpreter cannot evaluate"))
                continue
            actual = sources[source](prop)
            if not compare(actual, expected):
                report.failures.append(Failure(name, described, f"{_text(actual)} (HTTP {response.status_code})"))
        for variable in step.get("variables", []):
            value = json_property(document, variable["property"])
            if value is _MISSING:
                report.failures.append(
                    Failure(name, f"variable {variable['name']} from {variable['property']}", "(absent)")
                )
            else:
                self.variables[variable["name"]] = _text(value)
        if any(script.strip() for script in step.get("scripts", [])):
            check = self.scripts.get(step.get("note", "").strip())
            if check is None:
                report.failures.append(Failure(name, "script", "no Python translation was given for it"))
            else:
                report.assertions += 1
                report.failures.extend(Failure(name, f"script: {failed}", "failed") for failed in check(response))
