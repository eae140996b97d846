"""What the rules refuse: a resource the configured rules cannot translate for a target.

``rules/`` is pure and knows nothing of HTTP; a SCIM write that meets one of these errors is answered
by the one error boundary (``api/boundary.py``, docs/architecture.md decision 7) as 400 ``invalidValue``
with this error's detail, and delivery records it like any other failure of a plan.
"""

from __future__ import annotations


class RuleError(Exception):
    """A rule cannot be applied to a resource. ``detail`` tells a person what to change."""

    def __init__(self, detail: str):
        super().__init__(detail)
        self.detail = detail


class UnmappableName(RuleError):
    """The rules turn a SCIM name into an empty Atlassian name."""
