"""Third-party conformance suites against the real server (tools/conformance.py does the running).

scim2-tester must pass everything; scim-sanity and Microsoft's Postman collection may fail only the checks we
disagree with in docs/conformance.md — exactly those, so a fixed disagreement is noticed and removed from the docs.
Microsoft's collection is not part of this project: its path comes from SCIMAPP_POSTMAN_COLLECTION (CI sets it).
"""
from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from tools.conformance import DISAGREEMENTS, TARGETS, run_suite

from .conftest import ROOT, needs

ARTIFACTS = ROOT / "test-artifacts" / "conformance"


@pytest.mark.parametrize("tool", ["scim2-tester", "scim-sanity", "newman"])
def test_conformance_suite(tool):
    collection = os.environ.get("SCIMAPP_POSTMAN_COLLECTION")
    if tool == "newman":
        needs(collection, "set SCIMAPP_POSTMAN_COLLECTION to Microsoft's SCIM Postman collection to run it")
        needs(shutil.which("npm") or (ROOT / "tools/conformance/node_modules").exists(), "npm is not installed")
    result = run_suite(tool, ARTIFACTS / tool, Path(collection) if collection else None)
    assert not result.note, result.note
    assert result.unexpected == [], result.line() + "\n" + "\n".join(result.unexpected)
    assert sorted(set(result.failed)) == sorted(DISAGREEMENTS[tool]), \
        "a documented disagreement no longer fails: update DISAGREEMENTS and docs/conformance.md"
    assert result.passed >= TARGETS.get(tool, 1)
