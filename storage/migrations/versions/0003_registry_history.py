"""registry history: first import day, reported_through, custom basis, per-contact snoozes, officer notices

Revision ID: 0003
Revises: 0002
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import storage.base

revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('consortia', schema=None) as batch_op:
        batch_op.add_column(sa.Column('first_imported_on', sa.Date(), nullable=True))
        batch_op.add_column(sa.Column('reported_through', sa.Integer(), nullable=True))
    with op.batch_alter_table('deadlines', schema=None) as batch_op:
        batch_op.add_column(sa.Column('basis', sa.String(length=300), nullable=False, server_default=''))
    with op.batch_alter_table('reminder_sends', schema=None) as batch_op:
        batch_op.add_column(sa.Column('lease_until', storage.base.UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('first_failed_at', storage.base.UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('reported_at', storage.base.UTCDateTime(timezone=True), nullable=True))
    # custom deadlines cited 8.3 by mistake: they have no clause of the scheme
    op.execute("UPDATE deadlines SET clause = '' WHERE kind = 'custom'")
    op.create_table('deadline_snoozes',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('deadline_id', sa.Integer(), nullable=False),
    sa.Column('chat_id', sa.BigInteger(), nullable=False),
    sa.Column('until', storage.base.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['deadline_id'], ['deadlines.id'], name=op.f('fk_deadline_snoozes_deadline_id_deadlines'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_deadline_snoozes')),
    sa.UniqueConstraint('deadline_id', 'chat_id', name=op.f('uq_deadline_snoozes_deadline_id'))
    )
    with op.batch_alter_table('deadline_snoozes', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_deadline_snoozes_deadline_id'), ['deadline_id'], unique=False)
    op.create_table('send_pace',
    sa.Column('key', sa.String(length=64), nullable=False),
    sa.Column('next_at', sa.Float(), nullable=False),
    sa.PrimaryKeyConstraint('key', name=op.f('pk_send_pace'))
    )
    op.create_table('officer_notices',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('deadline_id', sa.Integer(), nullable=False),
    sa.Column('chat_id', sa.BigInteger(), nullable=False),
    sa.Column('message_id', sa.BigInteger(), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('created_at', storage.base.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_officer_notices'))
    )
    with op.batch_alter_table('officer_notices', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_officer_notices_deadline_id'), ['deadline_id'], unique=False)


def downgrade() -> None:
    op.drop_table('send_pace')
    with op.batch_alter_table('officer_notices', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_officer_notices_deadline_id'))
    op.drop_table('officer_notices')
    with op.batch_alter_table('deadline_snoozes', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_deadline_snoozes_deadline_id'))
    op.drop_table('deadline_snoozes')
    with op.batch_alter_table('reminder_sends', schema=None) as batch_op:
        batch_op.drop_column('reported_at')
        batch_op.drop_column('first_failed_at')
        batch_op.drop_column('lease_until')
    with op.batch_alter_table('deadlines', schema=None) as batch_op:
        batch_op.drop_column('basis')
    with op.batch_alter_table('consortia', schema=None) as batch_op:
        batch_op.drop_column('reported_through')
        batch_op.drop_column('first_imported_on')
