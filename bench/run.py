"""scimapp's performance benchmark, in one command.

    python bench/run.py                       # 100,000 users, SQLite, about 5 minutes on 2 cores
    python bench/run.py --json-out bench.json
    python bench/run.py --database-url postgresql+psycopg://user:pw@host/emptydb
    python bench/run.py --smoke               # tiny sizes, well under a minute; exit 1 on any request error

1. The ceiling: a bare Flask + waitress app (bench/ceiling.py, 8 threads) doing one SQLite primary-key SELECT per
   request on a table as large as the user table, driven by the same load generator and client count.
2. The real server, started as users start it (``python app.py --host 127.0.0.1 --port P`` on a temporary
   instance folder), a token made with ``flask --app app token create``, and N users plus two groups loaded
   straight into the database by bench/load.py (checked against the app: a twin user created over HTTP must get
   the same rows, and loaded users must be found and rendered correctly through the API).
3. Entra-shaped traffic over keep-alive connections: lookups, GET, PATCH, create, group member changes on a big and
   a small group, paging, lookup latency at 1k versus N users; the server's RSS is sampled throughout.
4. Every figure, the ratios against their targets (met/missed), and a JSON file with everything (--json-out).

The exit status is 1 when any request failed (any status outside 2xx) or a check failed; missed targets do not
change it. docs/performance.md explains the scenarios and records a full run.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import random
import shutil
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
import urllib.parse
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))

import entra  # noqa: E402
from loadgen import ConnectionLost, KeepAliveClient, Result, RssSampler, Runner  # noqa: E402

try:
    import psutil
except ImportError:  # pragma: no cover
    sys.exit("bench/run.py needs psutil (pip install -r requirements-dev.txt)")

SCIM = "/scim/v2"
MB = 1024 * 1024
# The benchmark measures capacity, so the per-token rate limit (shipped default: 200 requests/s) is switched off for
# its server (SCIMAPP_SCIM_RATE_LIMIT=""); --rate-limit measures with one.
RATE_LIMIT = "none"

# Targets: (key, label, comparison, threshold)
TARGETS = [
    ("lookup_vs_ceiling", "filter lookup (userName eq) at N users vs ceiling req/s", ">=", 0.60),
    ("create_vs_ceiling", "create (POST /Users) vs ceiling req/s", ">=", 0.35),
    ("lookup_N_vs_1k", "serial lookup p50 at N users vs at 1k", "<=", 1.3),
    ("group_patch_big_vs_small", "single-member group PATCH p50, big group vs 10-member group", "<=", 1.5),
    ("page_last_vs_first", "last page vs first page p50 (count=100)", "<=", 2.0),
    ("peak_rss_mb", "peak server RSS (MB)", "<=", 250.0),
]


# ------------------------------------------------------------------------------------------------ settings

def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description="scimapp performance benchmark (see docs/performance.md).")
    p.add_argument("--users", type=int, help="users loaded before measuring (default 100000; smoke 2000)")
    p.add_argument("--concurrency", type=int, default=8, help="keep-alive clients of the concurrent scenarios (8)")
    p.add_argument("--ops", type=int, help="requests per concurrent read/PATCH scenario (default 4000; smoke 200)")
    p.add_argument("--create-ops", type=int, help="users created over HTTP (default 3000; smoke 200)")
    p.add_argument("--ceiling-ops", type=int, help="requests against the ceiling app (default 25000; smoke 1000)")
    p.add_argument("--probe-ops", type=int, help="serial lookups per scale probe (default 500; smoke 100)")
    p.add_argument("--group-pairs", type=int, help="remove+add pairs per group (default 300; smoke 50)")
    p.add_argument("--page-reps", type=int, help="requests of the first and of the last page (default 60; smoke 20)")
    p.add_argument("--small-store", type=int, help="users in store for the small lookup probe (default 1000; "
                                                  "smoke: half the users)")
    p.add_argument("--activity-ops", type=int, help="lookups per side of the sync-activity on/off comparison "
                                                    "(default 3000; smoke 40); creates: half as many")
    p.add_argument("--max-seconds", type=float, help="time cap of each scenario (default 180; smoke 20)")
    p.add_argument("--database-url", help="run the server on this (empty) database instead of a temporary SQLite "
                                          "file; it is filled with the benchmark's users and not emptied")
    p.add_argument("--rate-limit", default=RATE_LIMIT,
                   help="the server's SCIM_RATE_LIMIT (default %(default)r: no limit; '100000 per second' runs the "
                        "limiter on every request without refusing any, to include its cost; '200 per second' is "
                        "the shipped default, under which the concurrent scenarios get 429s)")
    p.add_argument("--json-out", help="write all results to this JSON file")
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--keep", action="store_true", help="keep the temporary folder (instance, logs, ceiling db)")
    p.add_argument("--smoke", action="store_true", help="tiny sizes, for CI: checks the benchmark still works")
    args = p.parse_args(argv)
    full = {"users": 100_000, "ops": 4000, "create_ops": 3000, "ceiling_ops": 25000, "probe_ops": 500,
            "group_pairs": 300, "page_reps": 60, "max_seconds": 180.0, "small_store": 1000, "activity_ops": 3000}
    smoke = {"users": 200, "ops": 40, "create_ops": 40, "ceiling_ops": 200, "probe_ops": 20,
             "group_pairs": 16, "page_reps": 4, "max_seconds": 20.0, "small_store": 100, "activity_ops": 40}
    for key, value in (smoke if args.smoke else full).items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    if args.users < 2 * entra.SMALL_GROUP_SIZE + 2:
        p.error("--users must be at least 22")
    args.small_store = min(args.small_store, args.users)
    return args


# ------------------------------------------------------------------------------------------------ processes

def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def clean_env(extra: dict[str, str]) -> dict[str, str]:
    """The environment for the server and its commands: no inherited SCIMAPP_* settings (a DATABASE_URL exported
    for a real server must never receive benchmark users), then the benchmark's own."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SCIMAPP_")}
    env.update(extra)
    return env


def wait_until(check, timeout: float, what: str, proc: subprocess.Popen, log: Path) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"{what} exited early:\n{log.read_text()[-3000:]}")
        try:
            if check():
                return
        except (OSError, ConnectionLost):
            pass
        time.sleep(0.1)
    raise SystemExit(f"{what} did not come up within {timeout:.0f}s:\n{log.read_text()[-3000:]}")


def stop(proc: subprocess.Popen | None) -> None:
    if proc is not None and proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def run_checked(cmd: list[str], env: dict, what: str, timeout: float = 3600) -> str:
    done = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout)
    if done.returncode != 0:
        raise SystemExit(f"{what} failed ({done.returncode}):\n{done.stdout[-2000:]}\n{done.stderr[-3000:]}")
    return done.stdout


# ------------------------------------------------------------------------------------------------ the benchmark

class Bench:
    def __init__(self, args: argparse.Namespace):
        self.a = args
        self.rng = random.Random(args.seed)
        self.tmp = Path(tempfile.mkdtemp(prefix="scimapp-bench-"))
        self.results: dict[str, Result] = {}
        self.info: dict = {}
        self.failures: list[str] = []  # failed checks (not request errors, which the scenarios count)
        self.server = None
        self.ceiling_proc = None
        self.ceiling_parts: dict[str, Result] = {}
        self.sampler = None
        self.runner: Runner | None = None

    # -------------------------------------------------------------- output
    def say(self, text: str) -> None:
        print(text, flush=True)

    def record(self, result: Result, **extra) -> Result:
        result.extra.update(extra)
        self.results[result.name] = result
        r = result
        ops = r.ops_per_s or 0.0
        line = (f"  {r.name:<26} c={r.concurrency:<2} n={r.ops:<6} err={r.errors:<4} {ops:8.1f} ops/s  "
                f"p50={_f(r.p(50))} p99={_f(r.p(99))} ms")
        if r.server_cpu_s is not None and r.wall_s:
            line += f"  srv_cpu={100 * r.server_cpu_s / r.wall_s:4.0f}%"
        if r.wall_s:
            line += f" cli_cpu={100 * r.client_cpu_s / r.wall_s:3.0f}%"
        if r.time_capped:
            line += " [time cap]"
        if r.errors:
            line += f"  ERRORS {r.error_kinds} e.g. {r.error_samples[:1]}"
        self.say(line)
        return result

    def check(self, ok: bool, what: str) -> bool:
        if not ok:
            self.failures.append(what)
            self.say(f"  CHECK FAILED: {what}")
        return ok

    # -------------------------------------------------------------- 1. the ceiling
    def start_ceiling(self) -> None:
        """Build and start the ceiling app, warm it up and measure it alone once. It then stays up (idle, using no
        CPU) so that it can be measured again in blocks interleaved with the scenarios compared to it."""
        a = self.a
        self.say(f"[ceiling] bare Flask + waitress (8 threads) + one SQLite primary-key SELECT, {a.users} rows")
        port = free_port()
        log = self.tmp / "ceiling.log"
        with open(log, "w") as out:
            self.ceiling_proc = subprocess.Popen(
                [sys.executable, str(HERE / "ceiling.py"), "--db", str(self.tmp / "ceiling.db"), "--rows",
                 str(a.users), "--port", str(port)], cwd=ROOT, env=clean_env({}), stdout=out, stderr=subprocess.STDOUT)
        probe = KeepAliveClient("127.0.0.1", port, timeout=5)
        first = "/items/" + entra.user_id(0)
        wait_until(lambda: probe.request("GET", first)[0] == 200, 600, "the ceiling app", self.ceiling_proc, log)
        probe.close()
        self.ceiling_runner = Runner("127.0.0.1", port, server_proc=psutil.Process(self.ceiling_proc.pid))
        self.ceiling_block("ceiling_warmup", min(500, a.ceiling_ops))
        self.record(self.ceiling_block("ceiling_alone", max(1, a.ceiling_ops // 5)),
                    rss_mb=round(psutil.Process(self.ceiling_proc.pid).memory_info().rss / MB, 1))

    def ceiling_block(self, name: str, count: int) -> Result:
        """``count`` requests against the ceiling app, each for a random existing row."""
        a = self.a
        ids = [entra.user_id(self.rng.randrange(a.users)) for _ in range(count)]
        return self.ceiling_runner.run(name, lambda k: ("GET", "/items/" + ids[k], None), count, a.concurrency,
                                       a.max_seconds,
                                       lambda k, s, b: None if ids[k].encode() in b else "wrong item")

    def against_ceiling(self, name: str, make_block, total: int, blocks: int = 4) -> Result:
        """Run a scenario in ``blocks`` parts, each preceded by a block of ceiling requests, so that both see the
        same background load (this machine is shared); the ceiling blocks add up to the "ceiling" figure."""
        share = max(1, (self.a.ceiling_ops - self.a.ceiling_ops // 5) // 8)
        merged = None
        for b in range(blocks):
            first, last = total * b // blocks, total * (b + 1) // blocks
            c = self.ceiling_block("ceiling", share)
            if "ceiling" in self.ceiling_parts:
                self.ceiling_parts["ceiling"].merge(c)
            else:
                self.ceiling_parts["ceiling"] = c
            r = make_block(first, last)
            if merged is None:
                merged = r
            else:
                merged.merge(r)
        merged.name = name
        return merged

    # -------------------------------------------------------------- 2. the real server
    def start_server(self) -> None:
        a = self.a
        instance = self.tmp / "instance"
        env = {"SCIMAPP_INSTANCE_PATH": str(instance), "SCIMAPP_LOG_LEVEL": "WARNING",
               "SCIMAPP_SCIM_RATE_LIMIT": "" if a.rate_limit.strip().lower() == "none" else a.rate_limit}
        if a.database_url:
            env["SCIMAPP_DATABASE_URL"] = a.database_url
        self.env = clean_env(env)
        self.server_log = self.tmp / "server.log"
        self.server, self.port = self.spawn_server(self.env, self.server_log, "scimapp")
        self.say(f"[server] python app.py --host 127.0.0.1 --port {self.port}  (instance {instance}, "
                 f"{'database ' + _hide_password(a.database_url) if a.database_url else 'SQLite'}, "
                 f"SCIM_RATE_LIMIT {self.env['SCIMAPP_SCIM_RATE_LIMIT'] or 'off'!r})")
        proc = psutil.Process(self.server.pid)
        self.sampler = RssSampler(proc).start()
        self.token_name = f"bench-{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}"
        out = run_checked([sys.executable, "-m", "flask", "--app", "app", "token", "create", self.token_name],
                          self.env, "flask --app app token create")
        token = out.strip().splitlines()[-1].strip()
        self.runner = Runner("127.0.0.1", self.port, {"Authorization": f"Bearer {token}"}, server_proc=proc)

    def spawn_server(self, env: dict, log: Path, what: str) -> tuple[subprocess.Popen, int]:
        """``python app.py`` on a free port, as users start it; returns once /healthz answers 200."""
        port = free_port()
        with open(log, "w") as out:
            proc = subprocess.Popen([sys.executable, "app.py", "--host", "127.0.0.1", "--port", str(port)],
                                    cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
        health = KeepAliveClient("127.0.0.1", port, timeout=5)
        try:
            wait_until(lambda: health.request("GET", "/healthz")[0] == 200, 120, what, proc, log)
        except BaseException:
            stop(proc)
            raise
        finally:
            health.close()
        return proc, port

    def load(self, first: int, last: int, groups: bool) -> dict:
        self.sampler.set_phase(f"load {first}-{last}")
        cmd = [sys.executable, str(HERE / "load.py"), "--from", str(first), "--to", str(last),
               "--token-name", self.token_name]
        if groups:
            cmd.append("--groups")
        t0 = time.perf_counter()
        out = run_checked(cmd, self.env, "bench/load.py")
        stats = json.loads(out.strip().splitlines()[-1])
        stats["wall_s"] = round(time.perf_counter() - t0, 2)
        self.say((f"  loaded users {first}..{last - 1}" if last > first else "  loaded no more users")
                 + (f" and groups {stats['groups']}" if groups else "")
                 + f" in {stats['wall_s']:.1f}s")
        self.info.setdefault("loads", []).append(stats)
        return stats

    # -------------------------------------------------------------- checks of the loaded data
    def api(self, method: str, target: str, body: dict | None = None) -> tuple[int, dict | None]:
        client = self.runner.client()
        try:
            status, data = client.request(method, SCIM + target, entra.dumps(body) if body is not None else None)
        finally:
            client.close()
        return status, (json.loads(data) if data else None)

    def check_twin(self) -> None:
        """A user created over HTTP must get exactly the rows the loader builds for the same body."""
        i = entra.TWIN_INDEX
        status, rep = self.api("POST", "/Users", entra.user_body(i))
        if not self.check(status == 201, f"POST of the twin user answered {status}: {rep}"):
            return
        rid = rep["id"]
        self.check(_without_meta(rep) == entra.expected_representation(i, rid),
                   f"the API renders a created user differently than expected: {rep}")
        done = subprocess.run([sys.executable, str(HERE / "load.py"), "--check-twin", rid, "--index", str(i),
                               "--token-name", self.token_name],
                              cwd=ROOT, env=self.env, capture_output=True, text=True, timeout=300)
        try:
            problems = json.loads(done.stdout.strip().splitlines()[-1])["problems"]
        except (ValueError, IndexError, KeyError):
            problems = [f"load.py --check-twin failed: {done.stdout[-1000:]} {done.stderr[-2000:]}"]
        for problem in problems:
            self.check(False, f"loader drifted from the app: {problem}")
        if not problems:
            self.say("  twin check: the loader writes the same rows as POST /Users")
        status, _ = self.api("DELETE", f"/Users/{rid}")
        self.check(status == 204, f"DELETE of the twin user answered {status}")

    def check_loaded(self, indexes: list[int], with_groups: bool) -> None:
        """Loaded users are found by filter (column- and index-table-backed) and render as POST would."""
        for i in indexes:
            rid, body = entra.user_id(i), entra.user_body(i)
            email = body["emails"][0]["value"].upper()  # emails are caseExact=false: found in any case
            queries = [f'userName eq "{entra.user_name(i)}"', f'externalId eq "{entra.object_id(i)}"',
                       f'emails[type eq "work" and value eq "{email}"]',
                       f'{entra.ENTERPRISE}:employeeNumber eq "{body[entra.ENTERPRISE]["employeeNumber"]}"']
            for text in queries:
                status, page = self.api("GET", "/Users?filter=" + urllib.parse.quote_plus(text))
                found = [r["id"] for r in (page or {}).get("Resources", [])]
                self.check(status == 200 and found == [rid],
                           f"filter {text!r} found {found} (status {status}), expected [{rid}]")
            status, rep = self.api("GET", f"/Users/{rid}")
            if not self.check(status == 200, f"GET /Users/{rid} answered {status}"):
                continue
            expected = entra.expected_representation(i, rid)
            groups = rep.pop("groups", None)
            self.check(_without_meta(rep) == expected, f"loaded user {i} renders as {rep}, expected {expected}")
            meta = rep.get("meta", {})
            self.check(meta.get("resourceType") == "User" and meta.get("version") == 'W/"1"'
                       and str(meta.get("location", "")).endswith(f"/Users/{rid}")
                       and meta.get("created") == meta.get("lastModified"), f"loaded user {i} has meta {meta}")
            if with_groups:
                wanted = set()
                if i in entra.big_group_members(self.a.users):
                    wanted.add(entra.group_id(entra.BIG_GROUP))
                if i in entra.small_group_members(self.a.users):
                    wanted.add(entra.group_id(entra.SMALL_GROUP))
                got = {g["value"] for g in groups or []}
                self.check(got == wanted, f"loaded user {i} is in groups {got}, expected {wanted}")
        if with_groups:
            for name in (entra.BIG_GROUP, entra.SMALL_GROUP):
                status, page = self.api("GET", "/Groups" + entra.filter_query("displayName", name)
                                        + "&excludedAttributes=members")
                found = [r["id"] for r in (page or {}).get("Resources", [])]
                self.check(status == 200 and found == [entra.group_id(name)], f"group {name!r} lookup found {found}")
        self.say(f"  API check of loaded users {indexes}: "
                 + ("ok" if not self.failures else f"{len(self.failures)} problem(s)"))

    # -------------------------------------------------------------- 3. scenarios
    def lookups(self, name: str, indexes: list[int], attr: str, concurrency: int, runner: Runner | None = None) \
            -> Result:
        targets = []
        for i in indexes:
            value = entra.user_name(i) if attr == "userName" else entra.object_id(i)
            targets.append((SCIM + "/Users" + entra.filter_query(attr, value), entra.user_id(i).encode()))

        def make(k):
            return "GET", targets[k][0], None

        def ok(k, status, body):
            return None if b'"totalResults":1,' in body and targets[k][1] in body else "user not found"
        return (runner or self.runner).run(name, make, len(targets), concurrency, self.a.max_seconds, ok)

    def scale_probe(self, store: int) -> Result:
        a = self.a
        warm = [self.rng.randrange(store) for _ in range(min(100, a.probe_ops))]
        self.lookups("warmup", warm, "userName", 1)
        picks = [self.rng.randrange(store) for _ in range(a.probe_ops)]
        name = f"lookup_serial@{store}"
        if name in self.results:  # N is the small store size: the second probe runs after the groups were loaded
            name += "_again"
        return self.record(self.lookups(name, picks, "userName", 1), store_users=store)

    def concurrent_reads(self) -> None:
        a, n = self.a, self.a.users
        warm = [self.rng.randrange(n) for _ in range(min(300, a.ops))]
        self.lookups("warmup", warm, "userName", a.concurrency)
        picks = [self.rng.randrange(n) for _ in range(a.ops)]
        self.record(self.against_ceiling(
            "lookup_userName", lambda first, last: self.lookups("lookup_userName", picks[first:last], "userName",
                                                                a.concurrency), a.ops), store_users=n)
        picks = [self.rng.randrange(n) for _ in range(a.ops)]
        self.record(self.lookups("lookup_externalId", picks, "externalId", a.concurrency), store_users=n)

        absent = [SCIM + "/Users" + entra.filter_query("userName", f"absent.{self.rng.randrange(10**12)}@"
                                                       f"{entra.DOMAIN}") for _ in range(a.ops)]
        self.record(self.runner.run("lookup_miss", lambda k: ("GET", absent[k], None), a.ops, a.concurrency,
                                    a.max_seconds,
                                    lambda k, s, b: None if b'"totalResults":0,' in b else "found a user"))

        ids = [entra.user_id(self.rng.randrange(n)) for _ in range(a.ops)]
        self.record(self.runner.run("get_by_id", lambda k: ("GET", f"{SCIM}/Users/{ids[k]}", None), a.ops,
                                    a.concurrency, a.max_seconds,
                                    lambda k, s, b: None if ids[k].encode() in b else "wrong user"))

    def patches(self) -> None:
        a, n = self.a, self.a.users
        for name, builder in (("patch_pathless", entra.patch_pathless), ("patch_work_email", entra.patch_work_email)):
            picks = [self.rng.randrange(n) for _ in range(a.ops)]
            bodies = [entra.dumps(builder(i, k)) for k, i in enumerate(picks)]

            def make(k, picks=picks, bodies=bodies):
                return "PATCH", f"{SCIM}/Users/{entra.user_id(picks[k])}", bodies[k]
            self.record(self.runner.run(name, make, a.ops, a.concurrency, a.max_seconds))

    def creates(self) -> None:
        a = self.a
        bodies = [entra.dumps(entra.user_body(entra.CREATE_BASE + k)) for k in range(a.create_ops)]

        def block(first: int, last: int) -> Result:
            part = bodies[first:last]
            return self.runner.run("create", lambda k: ("POST", SCIM + "/Users", part[k]), len(part),
                                   a.concurrency, a.max_seconds,
                                   lambda k, s, b: None if s == 201 and b'"id":' in b else "no resource")
        self.record(self.against_ceiling("create", block, a.create_ops))
        self.record(self.ceiling_parts["ceiling"], note="blocks interleaved with lookup_userName and create")

    def group_toggles(self) -> None:
        """Single-member remove-then-add pairs in Entra's forms, on the big and on the small group, in alternating
        blocks so that both see the same machine conditions: with the concurrent clients (the target) and serially
        (server cost without queueing; informational)."""
        a = self.a
        groups = {"big": (entra.group_id(entra.BIG_GROUP), list(entra.big_group_members(a.users))),
                  "small": (entra.group_id(entra.SMALL_GROUP), list(entra.small_group_members(a.users)))}
        for concurrency, suffix in ((a.concurrency, ""), (1, "_serial")):
            merged: dict[str, Result] = {}
            block = max(25, 4 * concurrency)
            for start in range(0, a.group_pairs, block):
                pairs = min(block, a.group_pairs - start)
                for label in ("small", "big"):
                    gid, members = groups[label]
                    chosen = [entra.user_id(self.rng.choice(members)) for _ in range(pairs)]
                    if label == "big":
                        toggled_big = chosen

                    def make(k, gid=gid, chosen=chosen):
                        # Remove, then add back: whatever the interleaving of clients, an add comes last for every
                        # member, so the groups keep their size.
                        target = f"{SCIM}/Groups/{gid}"
                        return [("PATCH", target, entra.dumps(entra.member_remove(chosen[k]))),
                                ("PATCH", target, entra.dumps(entra.member_add(chosen[k])))]
                    r = self.runner.run(f"group_patch_{label}{suffix}", make, pairs, concurrency, a.max_seconds,
                                        lambda k, s, b: None if s == 204 else f"status {s}")
                    if label in merged:
                        merged[label].merge(r)
                    else:
                        merged[label] = r
            self.record(merged["small"], group_members=entra.SMALL_GROUP_SIZE)
            self.record(merged["big"], group_members=entra.big_group_size(a.users))
        # The pairs must have left every member in place (not the big group's member list: 50,000 members would
        # distort the RSS figure; the toggled users' groups show it instead).
        status, small = self.api("GET", f"/Groups/{groups['small'][0]}?attributes=members")
        count = len((small or {}).get("members", []))
        self.check(status == 200 and count == entra.SMALL_GROUP_SIZE, f"the small group has {count} members after "
                                                                      f"the pairs (status {status})")
        for uid in toggled_big[:3]:
            status, user = self.api("GET", f"/Users/{uid}?attributes=groups")
            self.check(groups["big"][0] in {g["value"] for g in (user or {}).get("groups", [])},
                       f"user {uid} left the big group during the pairs")
        # Entra's group match query (members excluded), on the big group: informational.
        target = SCIM + "/Groups" + entra.filter_query("displayName", entra.BIG_GROUP) + "&excludedAttributes=members"
        self.record(self.runner.run("group_lookup_big", lambda k: ("GET", target, None), a.page_reps, 1,
                                    a.max_seconds, lambda k, s, b: None if b'"totalResults":1,' in b else "not found"))

    def activity_cost(self) -> None:
        """What sync-activity recording (scimapp/activity.py: one queued record per SCIM request, written in batches
        by a background thread) costs: lookup_userName and create on two fresh servers on the same database, one
        as shipped (recording on) and one started with SCIMAPP_ACTIVITY_ENABLED=false, in alternating blocks so
        that both sides see the same machine conditions (the main server stays up, idle)."""
        a, n = self.a, self.a.users
        procs, sides = [], {}
        try:
            for side, flag in (("on", "true"), ("off", "false")):
                env = dict(self.env, SCIMAPP_ACTIVITY_ENABLED=flag)
                proc, port = self.spawn_server(env, self.tmp / f"server-activity-{side}.log",
                                               f"scimapp (activity {side})")
                procs.append(proc)
                sides[side] = Runner("127.0.0.1", port, self.runner.headers, server_proc=psutil.Process(proc.pid))
            for runner in sides.values():  # warm both up alike
                self.lookups("warmup", [self.rng.randrange(n) for _ in range(min(200, a.activity_ops))], "userName",
                             a.concurrency, runner)
            creates = max(1, a.activity_ops // 2)
            bodies = {side: [entra.dumps(entra.user_body(entra.ACTIVITY_BASE + 1_000_000 * k + j))
                             for j in range(creates)] for k, side in enumerate(sides)}
            merged: dict[str, Result] = {}
            blocks = 4
            for b in range(blocks):
                for side, runner in (sides.items() if b % 2 == 0 else reversed(sides.items())):
                    lo, hi = a.activity_ops * b // blocks, a.activity_ops * (b + 1) // blocks
                    parts = [self.lookups(f"lookup_activity_{side}", [self.rng.randrange(n) for _ in range(hi - lo)],
                                          "userName", a.concurrency, runner)]
                    lo, hi = creates * b // blocks, creates * (b + 1) // blocks
                    chunk = bodies[side][lo:hi]
                    parts.append(runner.run(f"create_activity_{side}", lambda k, c=chunk: ("POST", SCIM + "/Users", c[k]),
                                            len(chunk), a.concurrency, a.max_seconds,
                                            lambda k, s, b: None if s == 201 and b'"id":' in b else "no resource"))
                    for r in parts:
                        if r.name in merged:
                            merged[r.name].merge(r)
                        else:
                            merged[r.name] = r
            for name in ("lookup_activity_on", "lookup_activity_off", "create_activity_on", "create_activity_off"):
                self.record(merged[name], activity="on" if name.endswith("_on") else "off")
        finally:
            for proc in procs:
                stop(proc)

    def paging(self) -> None:
        a = self.a
        status, page = self.api("GET", "/Users?startIndex=1&count=1")
        total = page["totalResults"] if status == 200 else a.users
        last_start = ((total - 1) // 100) * 100 + 1
        merged: dict[str, Result] = {}
        for start in range(0, a.page_reps, 10):
            reps = min(10, a.page_reps - start)
            for label, first in (("page_first", 1), ("page_last", last_start)):
                target = f"{SCIM}/Users?startIndex={first}&count=100"
                expect = min(100, total - first + 1)
                r = self.runner.run(label, lambda k, t=target: ("GET", t, None), reps, 1, a.max_seconds,
                                    lambda k, s, b, e=expect: None if f'"itemsPerPage":{e},'.encode() in b
                                    else "wrong page size")
                if label in merged:
                    merged[label].merge(r)
                else:
                    merged[label] = r
        self.record(merged["page_first"], start_index=1, total_results=total)
        self.record(merged["page_last"], start_index=last_start, total_results=total)

    # -------------------------------------------------------------- the whole run
    def run(self) -> dict:
        a = self.a
        t0 = time.perf_counter()
        self.info["machine"] = machine_info()
        self.info["code"] = code_info()
        self.say(f"# scimapp benchmark: {a.users} users, {a.concurrency} clients{' (smoke)' if a.smoke else ''}; "
                 f"{self.info['machine']['cpus']} CPUs, load average {self.info['machine']['loadavg_start']}; "
                 f"commit {self.info['code']['commit']}"
                 + (f" with uncommitted changes to {', '.join(self.info['code']['uncommitted_changes'])}"
                    if self.info["code"]["uncommitted_changes"] else ""))
        try:
            self.start_ceiling()
            self.start_server()
            small = a.small_store
            self.say(f"[load] {small} users, then the lookup probe")
            self.load(0, small, groups=False)
            self.sampler.set_phase("checks")
            self.check_twin()
            self.check_loaded(sorted({0, small // 2, small - 1}), with_groups=False)
            self.sampler.set_phase("probe@small")
            probe_small = self.scale_probe(small)
            self.say(f"[load] up to {a.users} users and the groups")
            self.load(small, a.users, groups=True)
            self.sampler.set_phase("checks")
            big_members = entra.big_group_members(a.users)
            small_members = entra.small_group_members(a.users)
            self.check_loaded(sorted({0, big_members[-1], small_members[0], a.users - 1}), with_groups=True)
            self.say(f"[measure] {a.users} users in store")
            self.sampler.set_phase("probe@N")
            probe_big = self.scale_probe(a.users)
            self.sampler.set_phase("reads")
            self.concurrent_reads()
            self.sampler.set_phase("patch")
            self.patches()
            self.sampler.set_phase("create")
            self.creates()
            self.sampler.set_phase("groups")
            self.group_toggles()
            self.sampler.set_phase("paging")
            self.paging()
            self.sampler.set_phase("activity on/off")
            self.activity_cost()
            self.sampler.set_phase("end")
        finally:
            if self.sampler:
                self.sampler.stop()
            stop(self.server)
            stop(self.ceiling_proc)
        self.info["machine"]["loadavg_end"] = _loadavg()
        self.info["total_wall_s"] = round(time.perf_counter() - t0, 1)
        return self.summary(probe_small, probe_big)

    def summary(self, probe_small: Result, probe_big: Result) -> dict:
        a = self.a
        first = ["ceiling_alone", "ceiling"]
        res = {k: self.results[k] for k in first if k in self.results}
        res.update({k: v for k, v in self.results.items() if k not in first})
        ceiling = res["ceiling"].ops_per_s or 0.0

        def ratio(x, y):
            return round(x / y, 3) if x is not None and y else None
        values = {
            "lookup_vs_ceiling": ratio(res["lookup_userName"].ops_per_s, ceiling),
            "create_vs_ceiling": ratio(res["create"].ops_per_s, ceiling),
            "lookup_N_vs_1k": ratio(probe_big.p(50), probe_small.p(50)),
            "group_patch_big_vs_small": ratio(res["group_patch_big"].p(50), res["group_patch_small"].p(50)),
            "page_last_vs_first": ratio(res["page_last"].p(50), res["page_first"].p(50)),
            "peak_rss_mb": round(self.sampler.peak / MB, 1),
        }
        ratios = []
        for key, label, op, target in TARGETS:
            v = values[key]
            met = v is not None and (v >= target if op == ">=" else v <= target)
            ratios.append({"name": key, "label": label, "value": v, "target": f"{op} {target:g}", "met": met})
        informational = {
            "lookup_externalId_vs_ceiling": ratio(res["lookup_externalId"].ops_per_s, ceiling),
            "lookup_miss_vs_ceiling": ratio(res["lookup_miss"].ops_per_s, ceiling),
            "get_by_id_vs_ceiling": ratio(res["get_by_id"].ops_per_s, ceiling),
            "group_patch_big_vs_small_serial": ratio(res["group_patch_big_serial"].p(50),
                                                     res["group_patch_small_serial"].p(50)),
            "ceiling_alone_vs_interleaved": ratio(res["ceiling_alone"].ops_per_s, ceiling),
        }
        activity = {}
        for kind in ("lookup", "create"):
            on, off = res[f"{kind}_activity_on"], res[f"{kind}_activity_off"]
            cpu_on, cpu_off = _cpu_per_op(on), _cpu_per_op(off)
            activity[kind] = {
                "ops_per_s_on": _round(on.ops_per_s, 1), "ops_per_s_off": _round(off.ops_per_s, 1),
                "throughput_cost_pct": _round(100 * (1 - on.ops_per_s / off.ops_per_s), 1)
                if on.ops_per_s and off.ops_per_s else None,
                "server_cpu_us_per_op_on": _round(cpu_on, 0), "server_cpu_us_per_op_off": _round(cpu_off, 0),
                "server_cpu_cost_us_per_op": _round(cpu_on - cpu_off, 0) if cpu_on and cpu_off else None,
            }
        errors = sum(r.errors for r in res.values())
        self.say("")
        self.say(f"{'scenario':<26} {'c':>2} {'ops':>6} {'err':>4} {'ops/s':>9} {'p50 ms':>9} {'p99 ms':>9} "
                 f"{'srv us/op':>9}")
        for r in res.values():
            per_op = _cpu_per_op(r)
            self.say(f"{r.name:<26} {r.concurrency:>2} {r.ops:>6} {r.errors:>4} {_f(r.ops_per_s, 1, 9)} "
                     f"{_f(r.p(50), 2, 9)} {_f(r.p(99), 2, 9)} {_f(per_op, 0, 9)}")
        self.say("")
        self.say(f"ceiling: {ceiling:.1f} req/s (interleaved with lookup_userName and create; alone at the start "
                 f"{res['ceiling_alone'].ops_per_s or 0:.1f}); Entra asks for >= 25 req/s per tenant")
        for item in ratios:
            v = "n/a" if item["value"] is None else f"{item['value']:.3g}"
            self.say(f"  {'met   ' if item['met'] else 'MISSED'} {item['label']:<62} {v:>8}  (target {item['target']})")
        for k, v in informational.items():
            self.say(f"  info   {k:<62} {v}")
        for kind, v in activity.items():
            self.say(f"  sync-activity recording, {kind}: {v['ops_per_s_on']} req/s on vs {v['ops_per_s_off']} off "
                     f"(cost {v['throughput_cost_pct']}% of throughput); server CPU {v['server_cpu_us_per_op_on']:.0f} "
                     f"vs {v['server_cpu_us_per_op_off']:.0f} us/request on vs off "
                     f"(cost {v['server_cpu_cost_us_per_op']:.0f} us)")
        self.say("  peak RSS by phase (MB): "
                 + ", ".join(f"{k} {v / MB:.0f}" for k, v in self.sampler.phase_peaks.items()))
        self.say(f"requests failed: {errors}; checks failed: {len(self.failures)}; "
                 f"total {self.info['total_wall_s']:.0f}s; load average at end {self.info['machine']['loadavg_end']}")
        return {
            "tool": "scimapp bench/run.py",
            "params": {k: v for k, v in vars(a).items() if k != "database_url"}
            | {"database": "postgresql" if a.database_url else "sqlite"},
            **self.info,
            "ceiling_ops_per_s": round(ceiling, 1),
            "targets": ratios,
            "informational_ratios": informational,
            "activity_recording": activity,
            "rss": {"peak_mb": values["peak_rss_mb"], "samples": self.sampler.samples,
                    "by_phase_mb": {k: round(v / MB, 1) for k, v in self.sampler.phase_peaks.items()}},
            "scenarios": {name: r.as_dict() for name, r in res.items()},
            "request_errors": errors,
            "check_failures": self.failures,
        }


# ------------------------------------------------------------------------------------------------ helpers

def _f(v, digits: int = 2, width: int = 8) -> str:
    return f"{'n/a':>{width}}" if v is None else f"{v:{width}.{digits}f}"


def _round(v, digits: int):
    return None if v is None else round(v, digits)


def _cpu_per_op(r: Result) -> float | None:
    """Server CPU microseconds per request of a scenario."""
    return 1e6 * r.server_cpu_s / max(1, r.ops + r.errors) if r.server_cpu_s is not None else None


def _without_meta(rep: dict) -> dict:
    return {k: v for k, v in rep.items() if k != "meta"}


def _hide_password(url: str) -> str:
    try:
        from urllib.parse import urlsplit
        parts = urlsplit(url)
        if parts.password:
            return url.replace(f":{parts.password}@", ":***@")
    except ValueError:
        pass
    return url


def _loadavg() -> list[float]:
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return []


def machine_info() -> dict:
    return {"cpus": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version(),
            "sqlite": sqlite3.sqlite_version, "loadavg_start": _loadavg(),
            "memory_mb": round(psutil.virtual_memory().total / MB)}


def code_info() -> dict:
    """The commit measured, and the files of the app that differ from it (a figure must say what it measured)."""
    def git(*args: str) -> str:
        try:
            return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, timeout=10).stdout.rstrip()
        except (OSError, subprocess.SubprocessError):
            return ""
    changed = [line[3:] for line in git("status", "--porcelain", "--", "scimapp", "app.py", "requirements.txt",
                                        "templates").splitlines()]
    return {"commit": git("rev-parse", "--short", "HEAD") or None, "uncommitted_changes": changed}


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    bench = Bench(args)
    try:
        summary = bench.run()
    except BaseException:
        log = bench.tmp / "server.log"
        if log.exists() and log.stat().st_size:
            print(f"--- end of the server log ({log}):\n{log.read_text()[-3000:]}", file=sys.stderr)
        raise
    finally:
        if not args.keep:
            shutil.rmtree(bench.tmp, ignore_errors=True)
        else:
            print(f"kept {bench.tmp}")
    if args.json_out:
        Path(args.json_out).write_text(json.dumps(summary, indent=2) + "\n")
        print(f"results written to {args.json_out}")
    return 1 if summary["request_errors"] or summary["check_failures"] else 0


if __name__ == "__main__":
    sys.exit(main())
