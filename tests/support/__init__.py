"""Helpers shared by the test suites (reference data location, contract checks)."""

import os
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]


def reference_dir() -> Path:
    """Where the third-party reference data lives: $SCIM_BRIDGE_REFERENCE_DIR or ../shared/reference."""
    configured = os.environ.get("SCIM_BRIDGE_REFERENCE_DIR")
    if configured:
        return Path(configured)
    return (REPO_ROOT / ".." / "shared" / "reference").resolve()
