"""The ceiling of this stack on this machine: a bare Flask app served by waitress (8 threads, as scimapp) whose only
route does one SQLite primary-key SELECT (sqlite3, one connection per thread) on a table as large as the benchmark's
user table, and returns the stored JSON.

Nothing scimapp does per request is here (no token check, no SQLAlchemy, no filter parsing, no rendering), so its
requests/s, driven by the same load generator, is what Flask + waitress + SQLite on this machine can do at best; the
benchmark's targets are fractions of it.

    python bench/ceiling.py --db /tmp/ceiling.db --rows 100000 --port 8123
"""
from __future__ import annotations

import argparse
import json
import sqlite3
import sys
import threading
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import entra  # noqa: E402


def build(path: Path, rows: int) -> None:
    """A table of ``rows`` items keyed by the users' ids, each holding a user's JSON (as large as scimapp's)."""
    if path.exists():
        path.unlink()
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("CREATE TABLE items (id VARCHAR(36) PRIMARY KEY, data TEXT NOT NULL)")
    batch = []
    for i in range(rows):
        batch.append((entra.user_id(i), json.dumps(entra.expected_representation(i, entra.user_id(i)))))
        if len(batch) == 5000:
            conn.executemany("INSERT INTO items VALUES (?, ?)", batch)
            batch.clear()
    conn.executemany("INSERT INTO items VALUES (?, ?)", batch)
    conn.commit()
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # serve from the settled file, as scimapp's reads do
    conn.close()


def make_app(path: Path):
    from flask import Flask, Response

    app = Flask(__name__)
    local = threading.local()

    def connection() -> sqlite3.Connection:
        conn = getattr(local, "conn", None)
        if conn is None:
            conn = local.conn = sqlite3.connect(path, check_same_thread=False)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
        return conn

    @app.get("/items/<item_id>")
    def item(item_id: str):
        row = connection().execute("SELECT data FROM items WHERE id = ?", (item_id,)).fetchone()
        if row is None:
            return Response('{"detail":"not found"}', 404, mimetype="application/json")
        return Response(row[0], mimetype="application/json")

    return app


def main(argv: list[str] | None = None) -> None:
    from waitress.server import create_server

    p = argparse.ArgumentParser(description="Bare Flask + waitress + SQLite primary-key lookup (the ceiling).")
    p.add_argument("--db", required=True, type=Path)
    p.add_argument("--rows", type=int, default=0, help="(re)build the table with this many rows first")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--threads", type=int, default=8)
    args = p.parse_args(argv)
    if args.rows:
        build(args.db, args.rows)
    server = create_server(make_app(args.db), host=args.host, port=args.port, threads=args.threads)
    print(f"ceiling listening on http://{args.host}:{args.port}", flush=True)
    server.run()


if __name__ == "__main__":
    main()
