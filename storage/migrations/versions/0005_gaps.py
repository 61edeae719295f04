"""knowledge gaps: events, topic groups, officers' FAQ entries

Revision ID: 0005
Revises: 0002
"""
from __future__ import annotations

from alembic import op
import sqlalchemy as sa

import storage.base


revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('gap_events',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('at', storage.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('question', sa.Text(), nullable=False),
    sa.Column('lang', sa.String(length=8), nullable=False),
    sa.Column('asker', sa.String(length=16), nullable=False),
    sa.Column('answer_id', sa.Integer(), nullable=True),
    sa.Column('clauses', sa.JSON(), nullable=False),
    sa.Column('choice', sa.String(length=64), nullable=True),
    sa.Column('group_id', sa.Integer(), nullable=True),
    sa.Column('vec', sa.LargeBinary(), nullable=True),
    sa.Column('vec_model', sa.String(length=160), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_gap_events'))
    )
    op.create_index('ix_gap_events_at', 'gap_events', ['at'], unique=False)
    op.create_index('ix_gap_events_group', 'gap_events', ['group_id'], unique=False)
    op.create_index('ix_gap_events_answer', 'gap_events', ['answer_id'], unique=False)
    op.create_table('gap_groups',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('label', sa.Text(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('status_by', sa.BigInteger(), nullable=True),
    sa.Column('status_at', storage.base.UTCDateTime(timezone=True), nullable=True),
    sa.Column('created_at', storage.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('centroid', sa.LargeBinary(), nullable=True),
    sa.Column('vec_model', sa.String(length=160), nullable=True),
    sa.Column('size', sa.Integer(), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_gap_groups'))
    )
    op.create_table('faq_entries',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('group_id', sa.Integer(), nullable=True),
    sa.Column('questions', sa.JSON(), nullable=False),
    sa.Column('answer_zh', sa.Text(), nullable=False),
    sa.Column('answer_en', sa.Text(), nullable=False),
    sa.Column('clause', sa.String(length=40), nullable=False),
    sa.Column('document', sa.String(length=64), nullable=False),
    sa.Column('created_by', sa.BigInteger(), nullable=False),
    sa.Column('created_at', storage.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_faq_entries'))
    )


def downgrade() -> None:
    op.drop_table('faq_entries')
    op.drop_table('gap_groups')
    op.drop_index('ix_gap_events_answer', table_name='gap_events')
    op.drop_index('ix_gap_events_group', table_name='gap_events')
    op.drop_index('ix_gap_events_at', table_name='gap_events')
    op.drop_table('gap_events')
