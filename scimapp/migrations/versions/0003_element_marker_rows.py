"""Filter index: a marker row for every element of a complex attribute, and presence rows for binary values.

Value filters now range over elements through the marker rows (so ``emails[not (value pr)]`` sees an element whose
values are all empty), and ``pr`` sees binary values, which have no comparison key. Existing resources get their
rows here, read from the stored representations in batches.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-03 19:21:00
"""
from alembic import op
import sqlalchemy as sa


revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None

BATCH = 1000
BINARY = {("x509certificates", "value")}  # binary sub-attributes of the bundled schemas
NOT_INDEXED = {"members"}  # group members live in their own table


def _element_rows(attr, value):
    for idx, element in enumerate(value if isinstance(value, list) else [value]):
        if not isinstance(element, dict):
            continue
        yield attr, idx, ""
        for sub, sub_value in element.items():
            if (attr, sub.lower()) in BINARY and isinstance(sub_value, str) and sub_value:
                yield attr, idx, sub.lower()


def rows_for(data):
    """The new rows for one stored representation."""
    for key, value in (data or {}).items():
        low = key.lower()
        if low.startswith("urn:") and isinstance(value, dict):
            for name, inner in value.items():
                yield from _element_rows(f"{low}:{name.lower()}", inner)
        elif low not in NOT_INDEXED:
            yield from _element_rows(low, value)


def upgrade():
    bind = op.get_bind()
    for parent, index in (("scim_users", "scim_user_values"), ("scim_groups", "scim_group_values")):
        resources = sa.table(parent, sa.column("id", sa.String), sa.column("data", sa.JSON))
        values = sa.table(index, sa.column("resource_id", sa.String), sa.column("attr", sa.String),
                          sa.column("idx", sa.Integer), sa.column("sub", sa.String))
        last = ""
        while True:
            batch = bind.execute(sa.select(resources.c.id, resources.c.data).where(resources.c.id > last)
                                 .order_by(resources.c.id).limit(BATCH)).all()
            if not batch:
                break
            new = [{"resource_id": rid, "attr": a, "idx": i, "sub": s}
                   for rid, data in batch for a, i, s in rows_for(data)]
            if new:
                bind.execute(values.insert(), new)
            last = batch[-1][0]


def downgrade():
    for index in ("scim_user_values", "scim_group_values"):
        values = sa.table(index, sa.column("key", sa.Text), sa.column("num", sa.Float))
        op.execute(values.delete().where(values.c.key.is_(None), values.c.num.is_(None)))
