"""What sync-activity recording costs per SCIM request, measured in one process without HTTP or other load in the
way: a finer complement to the on/off comparison of bench/run.py, whose two servers are measured seconds apart.

It loads users into a temporary instance and measures, in CPU time of this process:

- the request side: the ``after_request`` hook that builds and queues one record, called directly many times in a
  request context (the precise figure), and whole ``userName eq`` lookups through Flask's test client in
  alternating blocks with ACTIVITY_ENABLED off and on (the same, seen end to end, with more noise);
- the background side: the writer's batch insert of the queued records (``Recorder.flush``), per record.

    python bench/activity_cost.py [--users 2000] [--requests 1000] [--rounds 5]
"""
from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

import entra  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--users", type=int, default=2000)
    p.add_argument("--requests", type=int, default=1000, help="lookups per block")
    p.add_argument("--rounds", type=int, default=5, help="off/on block pairs")
    args = p.parse_args(argv)

    from flask import g

    from load import Loader
    from scimapp import activity, create_app, tokens
    from scimapp.scim.routes import _record_activity

    with tempfile.TemporaryDirectory(prefix="scimapp-activity-cost-") as tmp:
        app = create_app({"INSTANCE_PATH": Path(tmp), "LOG_LEVEL": "WARNING", "SCIM_RATE_LIMIT": ""})
        with app.app_context():
            Loader(app, None).load_users(0, args.users)
            _, secret = tokens.create("activity-cost", "bench")
        recorder = app.extensions["scim_activity"]
        recorder.registered = True  # keep the background writer away: this script flushes, and times it
        activity._recorders.discard(recorder)
        client = app.test_client()
        headers = {"Authorization": f"Bearer {secret}", "Accept": "application/scim+json"}
        targets = ["/scim/v2/Users" + entra.filter_query("userName", entra.user_name(i % args.users))
                   for i in range(args.requests)]

        def block(enabled: bool) -> float:
            app.config["ACTIVITY_ENABLED"] = enabled
            t0 = time.process_time()
            for target in targets:
                if client.get(target, headers=headers).status_code != 200:
                    raise SystemExit(f"lookup failed: {target}")
            return 1e6 * (time.process_time() - t0) / len(targets)

        app.config["ACTIVITY_ENABLED"] = True
        with app.test_request_context(targets[0], headers=headers):
            g.scim_token_id, g.scim_token_name, g.request_started = 1, "activity-cost", time.perf_counter()
            g.scim_resource = ("User", None, None)
            response = app.response_class("{}", 200, mimetype="application/scim+json")
            hooks = 20_000
            t0 = time.process_time()
            for _ in range(hooks):
                _record_activity(response)
            hook = 1e6 * (time.process_time() - t0) / hooks
        recorder.buffer.clear()

        block(False)  # warm-up
        block(True)
        recorder.flush()
        offs, ons, flushes = [], [], []
        for _ in range(args.rounds):
            offs.append(block(False))
            ons.append(block(True))
            queued = len(recorder.buffer)
            t0 = time.process_time()
            written = recorder.flush()
            flushes.append(1e6 * (time.process_time() - t0) / max(1, written))
            assert written == queued == len(targets), (written, queued)
        off, on, flush = statistics.median(offs), statistics.median(ons), statistics.median(flushes)
        print(f"request side (the after_request hook alone): {hook:.1f} us per request")
        print(f"background batch write: {flush:.1f} us per record (median of {args.rounds} batches of {args.requests})")
        print(f"recording in all: {hook + flush:.0f} us per request = {100 * (hook + flush) / off:.1f}% of a lookup's "
              f"{off:.0f} us")
        print(f"end to end, lookups through the test client, median of {args.rounds} blocks of {args.requests}: "
              f"recording off {off:.0f} us, on {on:.0f} us per request ({on - off:+.0f} us; noise on a shared "
              f"machine is about +-150 us)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
