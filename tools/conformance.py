"""Run three third-party SCIM conformance suites against a live scimapp and compare with what we expect.

    python tools/conformance.py [--postman PATH] [--out DIR]

Each suite gets a fresh server (``python app.py`` on a free port, its own instance folder, a token made with the
real CLI), because the suites count what they find and leave resources behind:

- **scim2-tester** (PyPI, pinned in requirements-dev.txt): ``check_server`` runs its whole checklist.
- **scim-sanity** (PyPI, pinned): ``scim-sanity probe`` in strict mode.
- **Microsoft's Postman collection for its SCIM reference code**, run with **newman** (npm, pinned in
  tools/conformance/package-lock.json, installed on first use with ``npm ci``). The collection is a third-party
  file and is not part of this project: pass its path with ``--postman`` or ``SCIMAPP_POSTMAN_COLLECTION``.

Every failing check must be one we disagree with for a reason written in docs/conformance.md; those are listed in
``DISAGREEMENTS`` below. ``--check`` exits non-zero when a suite fails anything else, or passes fewer than its
target. The project's tests call ``run_suite`` directly (tests/test_conformance.py).
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
NEWMAN_DIR = ROOT / "tools" / "conformance"
sys.path.insert(0, str(ROOT))

# Checks we fail on purpose; the reasons are in docs/conformance.md. Keys are "request name: assertion" for newman
# and the check name for scim-sanity. scim2-tester has none: it must pass everything.
DISAGREEMENTS = {
    "newman": {
        "Patch user omalley new username: Status code is 204":
            "User PATCH answers 200 with the resource (Entra's docs and Microsoft's SCIM Validator expect it).",
        "patch user omalley active with boolean: Status code is 204":
            "User PATCH answers 200 with the resource (Entra's docs and Microsoft's SCIM Validator expect it).",
    },
    "scim-sanity": {
        "PATCH /Groups/{id}": "Group PATCH answers 204 (RFC 7644 §3.5.2 allows it; Entra's guidance asks for it).",
        "PATCH /Groups/{id} add member": "Group PATCH answers 204, as above.",
        "PATCH /Groups/{id} remove members": "Group PATCH answers 204, as above.",
    },
    "scim2-tester": {},
}
# Minimum passed checks (the targets; scim2-tester and scim-sanity must pass all they do not skip).
TARGETS = {"newman": 105}


@dataclass
class SuiteResult:
    """What one suite reported: passed count, failed check names, skipped count."""

    tool: str
    passed: int = 0
    failed: list[str] = field(default_factory=list)
    skipped: int = 0
    note: str = ""

    @property
    def unexpected(self) -> list[str]:
        """Failures we have not documented a disagreement with."""
        return [f for f in self.failed if f not in DISAGREEMENTS.get(self.tool, {})]

    def line(self) -> str:
        text = f"{self.tool}: {self.passed} passed, {len(self.failed)} failed, {self.skipped} skipped"
        return text + (f" ({self.note})" if self.note else "")


# ---------------------------------------------------------------------------- the server under test

class Server:
    """``python app.py`` with a fresh instance folder, and a token made with ``flask --app app token create``."""

    def __init__(self, workdir: Path):
        import socket
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.instance = workdir / f"instance-{self.port}"
        self.env = {**os.environ, "SCIMAPP_INSTANCE_PATH": str(self.instance)}
        self.base = f"http://127.0.0.1:{self.port}/scim/v2"
        self.log = open(workdir / f"server-{self.port}.log", "w")
        self.proc = None
        self.token = ""

    def __enter__(self) -> "Server":
        import time
        import urllib.request
        created = subprocess.run([sys.executable, "-m", "flask", "--app", "app", "token", "create", "conformance"],
                                 cwd=ROOT, env=self.env, capture_output=True, text=True, timeout=120, check=True)
        self.token = created.stdout.strip().splitlines()[-1]
        self.proc = subprocess.Popen([sys.executable, "app.py", "--host", "127.0.0.1", "--port", str(self.port)],
                                     cwd=ROOT, env=self.env, stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.time() + 30
        while time.time() < deadline:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/healthz", timeout=1):
                    return self
            except OSError:
                time.sleep(0.1)
        raise RuntimeError("the server did not start")

    def __exit__(self, *exc) -> None:
        if self.proc:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        self.log.close()


# ---------------------------------------------------------------------------- the suites

def run_scim2_tester(base: str, token: str, out: Path) -> SuiteResult:
    """scim2-tester's full checklist, in a child process (it needs its own event of imports and clients)."""
    script = r"""
import json, os, sys
from httpx2 import Client
from scim2_client.engines.httpx2 import SyncSCIMClient
from scim2_tester import Status, check_server
http = Client(base_url=sys.argv[1], headers={"Authorization": "Bearer " + os.environ["SCIM_TOKEN"]},
              timeout=30, trust_env=False)
rows = [{"status": r.status.name, "title": r.title, "resource_type": r.resource_type, "reason": str(r.reason or "")}
        for r in check_server(SyncSCIMClient(http))]
json.dump(rows, sys.stdout)
"""
    proc = subprocess.run([sys.executable, "-c", script, base], capture_output=True, text=True, timeout=900,
                          env={**os.environ, "SCIM_TOKEN": token, "NO_PROXY": "*"})
    (out / "scim2-tester.log").write_text(proc.stderr)
    result = SuiteResult("scim2-tester")
    if proc.returncode != 0:
        result.failed.append(f"the tester crashed: {proc.stderr.strip().splitlines()[-1:]}")
        return result
    rows = json.loads(proc.stdout)
    (out / "scim2-tester.json").write_text(json.dumps(rows, indent=1))
    for r in rows:
        name = f"{r['title']} [{r['resource_type']}]" if r["resource_type"] else r["title"]
        if r["status"] in ("SUCCESS", "COMPLIANT", "ACCEPTABLE"):
            result.passed += 1
        elif r["status"] in ("ERROR", "CRITICAL", "DEVIATION"):
            result.failed.append(f"{name}: {r['reason'][:300]}")
        else:
            result.skipped += 1
    return result


def run_scim_sanity(base: str, token: str, out: Path) -> SuiteResult:
    """``scim-sanity probe`` (strict mode); the token goes through the environment, not the command line."""
    script = r"""
import os, sys
sys.argv = ["scim-sanity", "probe", sys.argv[1], "--token", os.environ["SCIM_TOKEN"], "--i-accept-side-effects",
            "--json-output", "--timeout", "30"]
from scim_sanity.cli import main
main()
"""
    proc = subprocess.run([sys.executable, "-c", script, base], capture_output=True, text=True, timeout=900,
                          env={**os.environ, "SCIM_TOKEN": token, "NO_PROXY": "*"})
    (out / "scim-sanity.log").write_text(proc.stderr)
    result = SuiteResult("scim-sanity")
    try:
        report = json.loads(proc.stdout)
    except ValueError:
        result.failed.append(f"no report (exit {proc.returncode}): {proc.stderr.strip()[-300:]}")
        return result
    (out / "scim-sanity.json").write_text(json.dumps(report, indent=1))
    for r in report.get("results", []):
        status = r.get("status")
        if status == "pass":
            result.passed += 1
        elif status == "skip":
            result.skipped += 1
        else:
            result.failed.append(r.get("name", "?"))
    return result


def newman_binary() -> Path | None:
    """The pinned newman, installed with ``npm ci`` on first use; None when npm is not available."""
    binary = NEWMAN_DIR / "node_modules" / ".bin" / ("newman.cmd" if os.name == "nt" else "newman")
    if binary.exists():
        return binary
    npm = shutil.which("npm")
    if npm is None:
        return None
    subprocess.run([npm, "ci", "--no-audit", "--no-fund"], cwd=NEWMAN_DIR, check=True, timeout=600,
                   capture_output=True)
    return binary if binary.exists() else None


def prepare_collection(source: Path, base: str) -> dict:
    """The collection pointed at ``{{baseUrl}}``: its own token-fetching folder and variables removed."""
    collection = json.loads(source.read_text(encoding="utf-8"))
    collection["item"] = [i for i in collection["item"] if i.get("name") != "Get Token"]
    collection.pop("variable", None)
    prefix = "{{Protocol}}://{{Server}}{{Port}}/{{Api}}"

    def point(items):
        for item in items:
            if "item" in item:
                point(item["item"])
                continue
            url = item.get("request", {}).get("url")
            raw = url.get("raw") if isinstance(url, dict) else url
            if isinstance(raw, str) and raw.startswith(prefix):
                item["request"]["url"] = "{{baseUrl}}" + raw[len(prefix):]
    point(collection["item"])
    return collection


def run_newman(base: str, token: str, out: Path, collection: Path | None) -> SuiteResult:
    """Microsoft's Postman collection with newman."""
    result = SuiteResult("newman")
    if collection is None or not collection.exists():
        result.note = "not run: no collection given (--postman or SCIMAPP_POSTMAN_COLLECTION)"
        return result
    binary = newman_binary()
    if binary is None:
        result.note = "not run: npm is not installed"
        return result
    work = Path(tempfile.mkdtemp(prefix="newman-"))
    try:
        (work / "collection.json").write_text(json.dumps(prepare_collection(collection, base)))
        env_file = work / "env.json"
        fd = os.open(env_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            json.dump({"name": "scimapp", "values": [{"key": "baseUrl", "value": base, "enabled": True},
                                                     {"key": "token", "value": token, "enabled": True}]}, f)
        report = out / "newman.json"
        proc = subprocess.run([str(binary), "run", str(work / "collection.json"), "-e", str(env_file),
                               "--reporters", "json", "--reporter-json-export", str(report), "--color", "off",
                               "--timeout-request", "30000"], capture_output=True, text=True, timeout=900)
        (out / "newman.log").write_text(proc.stdout + proc.stderr)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    if not report.exists():
        result.failed.append(f"no report (exit {proc.returncode})")
        return result
    text = report.read_text().replace(token, "***")  # keep the token out of the saved report
    report.write_text(text)
    run = json.loads(text)["run"]
    failed = Counter()
    for f in run.get("failures", []):
        name = f"{f.get('source', {}).get('name')}: {f['error'].get('test') or f['error'].get('name')}"
        failed[name] += 1
    result.failed = sorted(failed.elements())
    stats = run["stats"]
    result.passed = stats["assertions"]["total"] - stats["assertions"]["failed"]
    other = sum(stats[k]["failed"] for k in ("requests", "testScripts", "prerequestScripts") if k in stats)
    result.failed += [f"request or script error #{i + 1}" for i in range(other)]
    return result


SUITES = {"newman": run_newman, "scim2-tester": run_scim2_tester, "scim-sanity": run_scim_sanity}


def run_suite(tool: str, out: Path, collection: Path | None = None) -> SuiteResult:
    """Start a fresh server, run one suite against it, stop the server."""
    out.mkdir(parents=True, exist_ok=True)
    with Server(out) as server:
        if tool == "newman":
            return run_newman(server.base, server.token, out, collection)
        return SUITES[tool](server.base, server.token, out)


def main(argv: list[str] | None = None) -> int:
    """Run the suites, print a summary, and with --check fail on undocumented failures or missed targets."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--postman", type=Path, default=os.environ.get("SCIMAPP_POSTMAN_COLLECTION") or None,
                        help="Microsoft's Postman collection (JSON)")
    parser.add_argument("--out", type=Path, default=ROOT / "test-artifacts" / "conformance")
    parser.add_argument("--suite", choices=list(SUITES), action="append", help="run only this suite")
    parser.add_argument("--check", action="store_true", help="exit 1 on undocumented failures or missed targets")
    args = parser.parse_args(argv)
    bad = False
    for tool in args.suite or list(SUITES):
        result = run_suite(tool, args.out / tool, args.postman)
        print(result.line())
        for name in result.failed:
            reason = DISAGREEMENTS.get(tool, {}).get(name)
            print(f"  - {name}" + (f"  [documented: {reason}]" if reason else "  [UNEXPECTED]"))
        if result.unexpected or result.passed < TARGETS.get(tool, 0) and not result.note:
            bad = True
    return 1 if (bad and args.check) else 0


if __name__ == "__main__":
    sys.exit(main())
