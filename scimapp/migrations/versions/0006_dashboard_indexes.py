"""Dashboard indexes: activity by (hour, status) for the chart and error rates as an index-only scan (replacing the
index on hour alone), and a partial index of inactive users for counting them without a table scan.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-04 08:30:00
"""
from alembic import op
import sqlalchemy as sa


revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('scim_activity', schema=None) as batch_op:
        batch_op.drop_index('ix_scim_activity_hour')
        batch_op.create_index('ix_scim_activity_hour_status', ['hour', 'status'], unique=False)
    with op.batch_alter_table('scim_users', schema=None) as batch_op:
        batch_op.create_index('ix_scim_users_inactive', ['id'], unique=False,
                              sqlite_where=sa.text('active = 0'), postgresql_where=sa.text('active = false'))


def downgrade():
    with op.batch_alter_table('scim_users', schema=None) as batch_op:
        batch_op.drop_index('ix_scim_users_inactive', sqlite_where=sa.text('active = 0'),
                            postgresql_where=sa.text('active = false'))
    with op.batch_alter_table('scim_activity', schema=None) as batch_op:
        batch_op.drop_index('ix_scim_activity_hour_status')
        batch_op.create_index('ix_scim_activity_hour', ['hour'], unique=False)
