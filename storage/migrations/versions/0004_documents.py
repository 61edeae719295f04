"""documents: added documents (notices, revised schemes, FAQs) and their clauses

Revision ID: 0004
Revises: 0002
Create Date: 2026-12-01 14:30:00
"""
from __future__ import annotations

from alembic import op
import sqlalchemy as sa

import storage.base


revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('documents',
    sa.Column('id', sa.String(length=64), nullable=False),
    sa.Column('title', sa.String(length=300), nullable=False),
    sa.Column('live_title', sa.String(length=300), nullable=True),
    sa.Column('issuer', sa.String(length=200), nullable=False),
    sa.Column('issued', sa.Date(), nullable=False),
    sa.Column('issued_precision', sa.String(length=8), nullable=False),
    sa.Column('valid_until', sa.Date(), nullable=True),
    sa.Column('valid_until_precision', sa.String(length=8), nullable=False),
    sa.Column('validity_years', sa.Integer(), nullable=True),
    sa.Column('supersedes', sa.String(length=64), nullable=True),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('state', sa.String(length=16), nullable=False),
    sa.Column('filename', sa.String(length=255), nullable=False),
    sa.Column('format', sa.String(length=8), nullable=False),
    sa.Column('content_hash', sa.String(length=64), nullable=False),
    sa.Column('text', sa.Text(), nullable=False),
    sa.Column('clause_count', sa.Integer(), nullable=False),
    sa.Column('created_at', storage.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('created_by', sa.BigInteger(), nullable=True),
    sa.Column('published_at', storage.base.UTCDateTime(timezone=True), nullable=True),
    sa.Column('withdrawn_at', storage.base.UTCDateTime(timezone=True), nullable=True),
    sa.Column('withdrawn_by', sa.BigInteger(), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_documents')),
    sa.UniqueConstraint('live_title', name=op.f('uq_documents_live_title'))
    )
    with op.batch_alter_table('documents', schema=None) as batch_op:
        batch_op.create_index('ix_documents_state', ['state'], unique=False)

    op.create_table('document_clauses',
    sa.Column('document_id', sa.String(length=64), nullable=False),
    sa.Column('clause_id', sa.String(length=64), nullable=False),
    sa.Column('seq', sa.Integer(), nullable=False),
    sa.Column('parent', sa.String(length=64), nullable=True),
    sa.Column('label', sa.String(length=200), nullable=False),
    sa.Column('label_en', sa.String(length=300), nullable=False),
    sa.Column('title', sa.Text(), nullable=False),
    sa.Column('text', sa.Text(), nullable=False),
    sa.Column('sep', sa.String(length=8), nullable=False),
    sa.Column('num', sa.String(length=32), nullable=True),
    sa.Column('path', sa.JSON(), nullable=False),
    sa.ForeignKeyConstraint(['document_id'], ['documents.id'], name=op.f('fk_document_clauses_document_id_documents'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('document_id', 'clause_id', name=op.f('pk_document_clauses'))
    )


def downgrade() -> None:
    op.drop_table('document_clauses')
    with op.batch_alter_table('documents', schema=None) as batch_op:
        batch_op.drop_index('ix_documents_state')
    op.drop_table('documents')
