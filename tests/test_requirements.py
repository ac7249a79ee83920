"""requirements.txt alone must run the app: every third-party module scimapp and app.py import comes from a
distribution pinned there (requests was once only in requirements-dev.txt, and `python app.py` failed to start)."""
from __future__ import annotations

import ast
import re
import sys
from importlib.metadata import packages_distributions
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def pinned(path: Path) -> set[str]:
    names = set()
    for line in path.read_text().splitlines():
        m = re.match(r"^([A-Za-z0-9_.\-]+)==", line.strip())
        if m:
            names.add(re.sub(r"[-_.]+", "-", m.group(1)).lower())
    return names


def imported_top_level() -> set[str]:
    names = set()
    for file in [ROOT / "app.py", *sorted((ROOT / "scimapp").rglob("*.py"))]:
        for node in ast.walk(ast.parse(file.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                names.update(a.name.split(".")[0] for a in node.names)
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names.add(node.module.split(".")[0])
    return names - set(sys.stdlib_module_names) - {"scimapp", "__future__"}


def test_every_runtime_import_is_pinned_in_requirements_txt():
    runtime = pinned(ROOT / "requirements.txt")
    providers = packages_distributions()
    missing = {}
    for module in sorted(imported_top_level()):
        dists = {re.sub(r"[-_.]+", "-", d).lower() for d in providers.get(module, [])}
        if not dists & runtime:
            missing[module] = sorted(dists) or "not installed"
    assert not missing, f"imported by the app but not pinned in requirements.txt: {missing}"
