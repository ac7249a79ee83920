"""SCIM core: tokens, users, groups, members, the filter index, the audit log.

Revision ID: 0001
Revises:
Create Date: 2026-12-03 19:19:36
"""
from alembic import op
import sqlalchemy as sa


revision = '0001'
down_revision = None
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('audit_events',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('at', sa.DateTime(), nullable=False),
    sa.Column('actor', sa.String(length=255), nullable=False),
    sa.Column('action', sa.String(length=64), nullable=False),
    sa.Column('target', sa.String(length=255), nullable=True),
    sa.Column('detail', sa.Text(), nullable=True),
    sa.Column('address', sa.String(length=64), nullable=True),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('audit_events', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_audit_events_action'), ['action'], unique=False)
        batch_op.create_index(batch_op.f('ix_audit_events_at'), ['at'], unique=False)

    op.create_table('scim_tokens',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('token_hash', sa.String(length=64), nullable=False),
    sa.Column('hint', sa.String(length=16), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('created_by', sa.String(length=255), nullable=False),
    sa.Column('last_used_at', sa.DateTime(), nullable=True),
    sa.Column('expires_at', sa.DateTime(), nullable=True),
    sa.Column('revoked_at', sa.DateTime(), nullable=True),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('token_hash')
    )
    op.create_table('scim_groups',
    sa.Column('id', sa.String(length=36).with_variant(sa.VARCHAR(length=36, collation='C'), 'postgresql'), nullable=False),
    sa.Column('display_name', sa.Text(), nullable=False),
    sa.Column('display_name_key', sa.Text().with_variant(sa.TEXT(collation='C'), 'postgresql'), nullable=False),
    sa.Column('external_id', sa.Text().with_variant(sa.TEXT(collation='C'), 'postgresql'), nullable=True),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('updated_at', sa.DateTime(), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('data', sa.JSON(), nullable=False),
    sa.Column('created_by_token_id', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['created_by_token_id'], ['scim_tokens.id'], ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('scim_groups', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_scim_groups_display_name_key'), ['display_name_key'], unique=False)
        batch_op.create_index(batch_op.f('ix_scim_groups_external_id'), ['external_id'], unique=False)
        batch_op.create_index('ix_scim_groups_order', ['created_at', 'id'], unique=False)
        batch_op.create_index(batch_op.f('ix_scim_groups_updated_at'), ['updated_at'], unique=False)

    op.create_table('scim_users',
    sa.Column('id', sa.String(length=36).with_variant(sa.VARCHAR(length=36, collation='C'), 'postgresql'), nullable=False),
    sa.Column('user_name', sa.Text(), nullable=False),
    sa.Column('user_name_key', sa.Text().with_variant(sa.TEXT(collation='C'), 'postgresql'), nullable=False),
    sa.Column('external_id', sa.Text().with_variant(sa.TEXT(collation='C'), 'postgresql'), nullable=True),
    sa.Column('display_name', sa.Text(), nullable=True),
    sa.Column('display_name_key', sa.Text().with_variant(sa.TEXT(collation='C'), 'postgresql'), nullable=True),
    sa.Column('active', sa.Boolean(), nullable=True),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('updated_at', sa.DateTime(), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('data', sa.JSON(), nullable=False),
    sa.Column('created_by_token_id', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['created_by_token_id'], ['scim_tokens.id'], ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('user_name_key')
    )
    with op.batch_alter_table('scim_users', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_scim_users_display_name_key'), ['display_name_key'], unique=False)
        batch_op.create_index(batch_op.f('ix_scim_users_external_id'), ['external_id'], unique=False)
        batch_op.create_index('ix_scim_users_order', ['created_at', 'id'], unique=False)
        batch_op.create_index(batch_op.f('ix_scim_users_updated_at'), ['updated_at'], unique=False)

    op.create_table('scim_group_members',
    sa.Column('group_id', sa.String(length=36).with_variant(sa.VARCHAR(length=36, collation='C'), 'postgresql'), nullable=False),
    sa.Column('member_id', sa.String(length=36).with_variant(sa.VARCHAR(length=36, collation='C'), 'postgresql'), nullable=False),
    sa.Column('member_type', sa.String(length=5), nullable=False),
    sa.Column('display', sa.Text(), nullable=True),
    sa.ForeignKeyConstraint(['group_id'], ['scim_groups.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('group_id', 'member_id')
    )
    with op.batch_alter_table('scim_group_members', schema=None) as batch_op:
        batch_op.create_index('ix_scim_group_members_member', ['member_id', 'group_id'], unique=False)

    op.create_table('scim_group_values',
    sa.Column('resource_id', sa.String(length=36).with_variant(sa.VARCHAR(length=36, collation='C'), 'postgresql'), nullable=False),
    sa.Column('attr', sa.Text().with_variant(sa.TEXT(collation='C'), 'postgresql'), nullable=False),
    sa.Column('idx', sa.Integer(), nullable=False),
    sa.Column('sub', sa.Text().with_variant(sa.TEXT(collation='C'), 'postgresql'), nullable=False),
    sa.Column('key', sa.Text().with_variant(sa.TEXT(collation='C'), 'postgresql'), nullable=True),
    sa.Column('num', sa.Float(), nullable=True),
    sa.ForeignKeyConstraint(['resource_id'], ['scim_groups.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('resource_id', 'attr', 'idx', 'sub')
    )
    with op.batch_alter_table('scim_group_values', schema=None) as batch_op:
        batch_op.create_index('ix_scim_group_values_key', ['attr', 'sub', 'key', 'resource_id'], unique=False)
        batch_op.create_index('ix_scim_group_values_num', ['attr', 'sub', 'num', 'resource_id'], unique=False, sqlite_where=sa.text('num IS NOT NULL'), postgresql_where=sa.text('num IS NOT NULL'))

    op.create_table('scim_user_values',
    sa.Column('resource_id', sa.String(length=36).with_variant(sa.VARCHAR(length=36, collation='C'), 'postgresql'), nullable=False),
    sa.Column('attr', sa.Text().with_variant(sa.TEXT(collation='C'), 'postgresql'), nullable=False),
    sa.Column('idx', sa.Integer(), nullable=False),
    sa.Column('sub', sa.Text().with_variant(sa.TEXT(collation='C'), 'postgresql'), nullable=False),
    sa.Column('key', sa.Text().with_variant(sa.TEXT(collation='C'), 'postgresql'), nullable=True),
    sa.Column('num', sa.Float(), nullable=True),
    sa.ForeignKeyConstraint(['resource_id'], ['scim_users.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('resource_id', 'attr', 'idx', 'sub')
    )
    with op.batch_alter_table('scim_user_values', schema=None) as batch_op:
        batch_op.create_index('ix_scim_user_values_key', ['attr', 'sub', 'key', 'resource_id'], unique=False)
        batch_op.create_index('ix_scim_user_values_num', ['attr', 'sub', 'num', 'resource_id'], unique=False, sqlite_where=sa.text('num IS NOT NULL'), postgresql_where=sa.text('num IS NOT NULL'))



def downgrade():
    with op.batch_alter_table('scim_user_values', schema=None) as batch_op:
        batch_op.drop_index('ix_scim_user_values_num')
        batch_op.drop_index('ix_scim_user_values_key')

    op.drop_table('scim_user_values')
    with op.batch_alter_table('scim_group_values', schema=None) as batch_op:
        batch_op.drop_index('ix_scim_group_values_num')
        batch_op.drop_index('ix_scim_group_values_key')

    op.drop_table('scim_group_values')
    with op.batch_alter_table('scim_group_members', schema=None) as batch_op:
        batch_op.drop_index('ix_scim_group_members_member')

    op.drop_table('scim_group_members')
    with op.batch_alter_table('scim_users', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_scim_users_updated_at'))
        batch_op.drop_index('ix_scim_users_order')
        batch_op.drop_index(batch_op.f('ix_scim_users_external_id'))
        batch_op.drop_index(batch_op.f('ix_scim_users_display_name_key'))

    op.drop_table('scim_users')
    with op.batch_alter_table('scim_groups', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_scim_groups_updated_at'))
        batch_op.drop_index('ix_scim_groups_order')
        batch_op.drop_index(batch_op.f('ix_scim_groups_external_id'))
        batch_op.drop_index(batch_op.f('ix_scim_groups_display_name_key'))

    op.drop_table('scim_groups')
    op.drop_table('scim_tokens')
    with op.batch_alter_table('audit_events', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_audit_events_at'))
        batch_op.drop_index(batch_op.f('ix_audit_events_action'))

    op.drop_table('audit_events')
