"""Fast loader for the benchmark: writes Entra-shaped users (and the benchmark's two groups) straight into scimapp's
database with SQLAlchemy Core, in batches, instead of one POST per user.

It builds exactly the rows a POST would write, with the app's own functions: the stored data from
``schemas.clean_resource`` (the same cleaning a POST body gets), the filter-index rows from
``schemas.index_rows(…, query.USER.skip)``, the folded lookup keys from ``values.fold``, meta timestamps from
``values.utcnow``, version 1 and the creating token. It runs inside ``create_app`` for the instance, so the schema is
migrated first. ``--check-twin`` compares what the server wrote for a user created over HTTP with what this loader
would write for the same body, so the loader cannot silently drift from the app.

    SCIMAPP_INSTANCE_PATH=/tmp/x python bench/load.py --from 0 --to 100000 --groups
    python bench/load.py --instance /tmp/x --database-url postgresql+psycopg://… --from 0 --to 1000

The server may be running meanwhile (SQLite WAL: its readers are not blocked; each batch is one short write
transaction that takes the write lock up front, as the app's writers do).
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(HERE))

import entra  # noqa: E402

BATCH = 2000  # users per transaction


def _app(instance: str | None, database_url: str | None):
    from scimapp import create_app
    overrides: dict = {"LOG_LEVEL": "WARNING"}
    if instance:
        overrides["INSTANCE_PATH"] = Path(instance)
    if database_url:
        overrides["DATABASE_URL"] = database_url
    return create_app(overrides)


class Loader:
    """Builds and inserts rows; use inside the app context."""

    def __init__(self, app, token_name: str | None):
        from sqlalchemy import select

        from scimapp.extensions import db
        from scimapp.models import (ScimGroup, ScimGroupMember, ScimGroupValue, ScimToken, ScimUser,
                                    ScimUserValue)
        from scimapp.scim.query import GROUP, USER

        self.db = db
        registry = app.extensions["scim_registry"]
        self.user_rt = registry.by_endpoint("Users")
        self.group_rt = registry.by_endpoint("Groups")
        self.U, self.UV = ScimUser.__table__, ScimUserValue.__table__
        self.G, self.GV, self.GM = ScimGroup.__table__, ScimGroupValue.__table__, ScimGroupMember.__table__
        self.user_skip, self.group_skip = USER.skip, GROUP.skip
        self.token_id = None
        if token_name:
            with db.engine.connect() as conn:
                ids = list(conn.execute(select(ScimToken.__table__.c.id).where(
                    ScimToken.__table__.c.name == token_name, ScimToken.__table__.c.revoked_at.is_(None))))
            if ids:
                self.token_id = ids[-1][0]

    # ------------------------------------------------------------------ rows
    def user_rows(self, i: int, now, rid: str | None = None) -> tuple[dict, list[dict]]:
        """(scim_users row, scim_user_values rows) for user ``i``, as Service.create writes them."""
        from scimapp.scim.schemas import clean_resource, index_rows
        from scimapp.scim.values import fold

        data = clean_resource(self.user_rt, entra.user_body(i))
        rid = rid or entra.user_id(i)
        display = data.get("displayName")
        row = {"id": rid, "user_name": data["userName"], "user_name_key": fold(data["userName"]),
               "external_id": data.get("externalId") or None, "display_name": display,
               "display_name_key": fold(display) if display else None, "active": data.get("active"),
               "created_at": now, "updated_at": now, "version": 1, "data": data,
               "created_by_token_id": self.token_id}
        values = [{"resource_id": rid, "attr": a, "idx": x, "sub": s, "key": k, "num": n}
                  for (a, x, s), (k, n) in index_rows(self.user_rt, data, self.user_skip).items()]
        return row, values

    def group_rows(self, name: str, now) -> tuple[dict, list[dict]]:
        """(scim_groups row, scim_group_values rows) of a loaded group, as Service.create writes them."""
        from scimapp.scim.schemas import clean_resource, index_rows
        from scimapp.scim.values import fold

        data = clean_resource(self.group_rt, entra.group_body(name))
        data.pop("members", None)
        gid = entra.group_id(name)
        display = data.get("displayName")
        row = {"id": gid, "display_name": display, "display_name_key": fold(display) if display else None,
               "external_id": data.get("externalId") or None, "created_at": now, "updated_at": now, "version": 1,
               "data": data, "created_by_token_id": self.token_id}
        values = [{"resource_id": gid, "attr": a, "idx": x, "sub": s, "key": k, "num": n}
                  for (a, x, s), (k, n) in index_rows(self.group_rt, data, self.group_skip).items()]
        return row, values

    # ------------------------------------------------------------------ writes
    def _write(self, table_rows: list[tuple]) -> None:
        """One transaction (SQLite: BEGIN IMMEDIATE, like the app's writers) inserting every (table, rows)."""
        from sqlalchemy import insert

        from scimapp.database import intending_to_write
        with intending_to_write(), self.db.engine.begin() as conn:
            for table, rows in table_rows:
                if rows:
                    conn.execute(insert(table), rows)

    def load_users(self, first: int, last: int, batch: int = BATCH, progress=None) -> int:
        """Insert users ``first``…``last - 1``; returns how many."""
        from scimapp.scim.values import utcnow
        done = 0
        for start in range(first, last, batch):
            now = utcnow()
            users, values = [], []
            for i in range(start, min(start + batch, last)):
                row, vals = self.user_rows(i, now)
                users.append(row)
                values.extend(vals)
            self._write([(self.U, users), (self.UV, values)])
            done += len(users)
            if progress:
                progress(done)
        return done

    def load_group(self, name: str, member_indexes, batch: int = 5000) -> int:
        """Insert a group and its member rows (users, by index); returns the member count."""
        from scimapp.scim.values import utcnow
        row, values = self.group_rows(name, utcnow())
        self._write([(self.G, [row]), (self.GV, values)])
        members = [{"group_id": row["id"], "member_id": entra.user_id(i), "member_type": "User", "display": None}
                   for i in member_indexes]
        for start in range(0, len(members), batch):
            self._write([(self.GM, members[start:start + batch])])
        return len(members)

    def user_count(self) -> int:
        from sqlalchemy import func, select
        with self.db.engine.connect() as conn:
            return conn.execute(select(func.count()).select_from(self.U)).scalar()

    # ------------------------------------------------------------------ drift check
    def check_twin(self, rid: str, index: int) -> list[str]:
        """Differences between what the server stored for user ``rid`` (created over HTTP from
        ``entra.user_body(index)``) and what this loader builds for the same body; empty when they agree."""
        from sqlalchemy import select
        with self.db.engine.connect() as conn:
            stored = conn.execute(select(self.U).where(self.U.c.id == rid)).mappings().first()
            stored_values = {(r.attr, r.idx, r.sub, r.key, r.num)
                             for r in conn.execute(select(self.UV).where(self.UV.c.resource_id == rid))}
        if stored is None:
            return [f"user {rid} is not in the database"]
        built, built_values = self.user_rows(index, stored["created_at"], rid)
        problems = []
        for column in ("user_name", "user_name_key", "external_id", "display_name", "display_name_key", "active",
                       "version", "data", "created_by_token_id"):
            if stored[column] != built[column]:
                problems.append(f"column {column}: server wrote {stored[column]!r}, loader builds {built[column]!r}")
        if json.dumps(stored["data"]) != json.dumps(built["data"]):  # same attribute order, so same rendering
            problems.append("data: attribute order differs from the server's")
        if stored["updated_at"] != stored["created_at"]:
            problems.append("meta: the server's created and lastModified differ on a new user")
        built_set = {(v["attr"], v["idx"], v["sub"], v["key"], v["num"]) for v in built_values}
        for extra in sorted(stored_values - built_set, key=repr):
            problems.append(f"index row the loader does not write: {extra}")
        for missing in sorted(built_set - stored_values, key=repr):
            problems.append(f"index row the server did not write: {missing}")
        return problems


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description="Load Entra-shaped users and groups straight into scimapp's database.")
    p.add_argument("--instance", help="instance folder (default: SCIMAPP_INSTANCE_PATH or ./instance)")
    p.add_argument("--database-url", help="database URL (default: SCIMAPP_DATABASE_URL or the instance's SQLite)")
    p.add_argument("--from", dest="first", type=int, default=0, help="first user index (default 0)")
    p.add_argument("--to", dest="last", type=int, default=0, help="users up to this index, exclusive")
    p.add_argument("--groups", action="store_true",
                   help="also load the big group (min(50000, TO/2) members) and the 10-member group")
    p.add_argument("--token-name", default="bench", help="token recorded as the creator (default 'bench')")
    p.add_argument("--batch", type=int, default=BATCH)
    p.add_argument("--check-twin", metavar="ID", help="compare the server's rows for this user with the loader's")
    p.add_argument("--index", type=int, default=entra.TWIN_INDEX, help="body index of the --check-twin user")
    args = p.parse_args(argv)

    app = _app(args.instance, args.database_url)
    with app.app_context():
        loader = Loader(app, args.token_name)
        if args.check_twin:
            problems = loader.check_twin(args.check_twin, args.index)
            print(json.dumps({"twin": args.check_twin, "problems": problems}))
            return 1 if problems else 0
        t0 = time.perf_counter()
        if args.first == 0 and args.last > 0 and loader.user_count() != 0:
            print("load.py: the database already holds users; the benchmark needs an empty one", file=sys.stderr)
            return 2
        n = loader.load_users(args.first, args.last, args.batch)
        users_s = time.perf_counter() - t0
        members = {}
        if args.groups:
            members[entra.BIG_GROUP] = loader.load_group(entra.BIG_GROUP, entra.big_group_members(args.last))
            members[entra.SMALL_GROUP] = loader.load_group(entra.SMALL_GROUP, entra.small_group_members(args.last))
        print(json.dumps({"users": n, "users_s": round(users_s, 2), "groups": members,
                          "total_s": round(time.perf_counter() - t0, 2), "pid": os.getpid()}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
