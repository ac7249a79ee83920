"""The benchmark (bench/run.py) still works: its --smoke mode runs every scenario at tiny sizes against the real app
under waitress and prints every figure. Speed is not asserted here: the targets are checked by the benchmark itself
and recorded in docs/performance.md."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

SCENARIOS = ["ceiling_alone", "ceiling", "lookup_serial@100", "lookup_serial@200", "lookup_userName",
             "lookup_externalId", "lookup_miss", "get_by_id", "patch_pathless", "patch_work_email", "create",
             "group_patch_small", "group_patch_big", "group_patch_small_serial", "group_patch_big_serial",
             "group_lookup_big", "page_first", "page_last", "lookup_activity_on", "lookup_activity_off",
             "create_activity_on", "create_activity_off"]
TARGETS = ["lookup_vs_ceiling", "create_vs_ceiling", "lookup_N_vs_1k", "group_patch_big_vs_small",
           "page_last_vs_first", "peak_rss_mb"]


def test_benchmark_smoke_run_prints_every_figure(tmp_path):
    pytest.importorskip("psutil")
    out = tmp_path / "bench.json"
    env = {k: v for k, v in os.environ.items() if not k.startswith("SCIMAPP_")}
    done = subprocess.run([sys.executable, "bench/run.py", "--smoke", "--json-out", str(out)], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-4000:]
    text = done.stdout
    assert "twin check: the loader writes the same rows as POST /Users" in text
    assert "requests failed: 0; checks failed: 0" in text
    table = text[text.index("scenario  "):]
    for name in SCENARIOS:
        assert f"\n{name} " in table, f"{name} missing from the table"
    assert "ceiling: " in text
    for label in ("filter lookup (userName eq)", "create (POST /Users) vs ceiling", "serial lookup p50",
                  "single-member group PATCH", "last page vs first page", "peak server RSS"):
        assert label in text
    assert text.count("sync-activity recording, ") == 2

    result = json.loads(out.read_text())
    assert result["params"]["smoke"] is True and result["request_errors"] == 0 and result["check_failures"] == []
    assert result["params"]["rate_limit"] == "none"
    assert [t["name"] for t in result["targets"]] == TARGETS
    for target in result["targets"]:
        assert isinstance(target["value"], float), target
    for name in SCENARIOS:
        scenario = result["scenarios"][name]
        assert scenario["ops"] > 0 and scenario["errors"] == 0 and scenario["p50_ms"] is not None, scenario
    for kind in ("lookup", "create"):
        assert result["activity_recording"][kind]["ops_per_s_on"] > 0
        assert result["activity_recording"][kind]["ops_per_s_off"] > 0
    assert result["rss"]["peak_mb"] > 0
