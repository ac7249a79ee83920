"""Sync activity: one row per SCIM request (written in batches), with what each write changed.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-03 20:40:00
"""
from alembic import op
import sqlalchemy as sa


revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('scim_activity',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('at', sa.DateTime(), nullable=False),
    sa.Column('hour', sa.Integer(), nullable=False),
    sa.Column('token_id', sa.Integer(), nullable=True),
    sa.Column('token_name', sa.String(length=100), nullable=True),
    sa.Column('method', sa.String(length=8), nullable=False),
    sa.Column('path', sa.String(length=500), nullable=False),
    sa.Column('resource_type', sa.String(length=20), nullable=True),
    sa.Column('resource_id', sa.String(length=36).with_variant(sa.VARCHAR(length=36, collation='C'), 'postgresql'), nullable=True),
    sa.Column('status', sa.Integer(), nullable=False),
    sa.Column('duration_ms', sa.Float(), nullable=False),
    sa.Column('scim_type', sa.String(length=40), nullable=True),
    sa.Column('detail', sa.Text(), nullable=True),
    sa.Column('changes', sa.JSON(), nullable=True),
    sa.Column('request_id', sa.String(length=64), nullable=True),
    sa.Column('client', sa.String(length=64), nullable=True),
    sa.Column('body', sa.Text(), nullable=True),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('scim_activity', schema=None) as batch_op:
        batch_op.create_index('ix_scim_activity_at', ['at'], unique=False)
        batch_op.create_index('ix_scim_activity_hour', ['hour'], unique=False)
        batch_op.create_index('ix_scim_activity_resource', ['resource_id', 'at'], unique=False)
        batch_op.create_index('ix_scim_activity_status_at', ['status', 'at'], unique=False)
        batch_op.create_index('ix_scim_activity_token_at', ['token_id', 'at'], unique=False)



def downgrade():
    with op.batch_alter_table('scim_activity', schema=None) as batch_op:
        batch_op.drop_index('ix_scim_activity_token_at')
        batch_op.drop_index('ix_scim_activity_status_at')
        batch_op.drop_index('ix_scim_activity_resource')
        batch_op.drop_index('ix_scim_activity_hour')
        batch_op.drop_index('ix_scim_activity_at')

    op.drop_table('scim_activity')
