"""knowledge console: entries with versions and review, golden questions, canned replies

Revision ID: 0003_knowledge_console
Revises: 0002_working_time
Create Date: 2026-12-06 12:00:00

- kb_entries / kb_versions: the curated Q&A in the database (seeded from knowledge/qa/*.yml on
  first use when empty), every change a new version, draft → review → published
- kb_golden: golden questions run before publishing
- console_canned_replies: the console's 快捷回复, editable on the admin pages
"""
from alembic import op
import sqlalchemy as sa

# Registers the tables on mingbai.db.Base for autogenerate / model-sync checks until
# mingbai/models.py imports knowledge.models itself (then this line can go).


revision = '0003_knowledge_console'
down_revision = '0002_working_time'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('kb_entries',
    sa.Column('id', sa.String(length=80), nullable=False),
    sa.Column('domain', sa.String(length=32), nullable=False),
    sa.Column('subtype', sa.String(length=64), nullable=True),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('question', sa.Text(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('published_version', sa.Integer(), nullable=True),
    sa.Column('author', sa.String(length=64), nullable=False),
    sa.Column('submitted_by', sa.String(length=64), nullable=True),
    sa.Column('reviewed_by', sa.String(length=64), nullable=True),
    sa.Column('source', sa.String(length=80), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('kb_entries', schema=None) as batch_op:
        batch_op.create_index('ix_kb_entries_domain', ['domain', 'status'], unique=False)

    op.create_table('kb_versions',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('entry_id', sa.String(length=80), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('data', sa.JSON(), nullable=False),
    sa.Column('author', sa.String(length=64), nullable=False),
    sa.Column('note', sa.String(length=200), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['entry_id'], ['kb_entries.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('entry_id', 'version', name='uq_kb_versions_entry_version')
    )
    op.create_table('kb_golden',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('question', sa.Text(), nullable=False),
    sa.Column('expect_entry', sa.String(length=80), nullable=True),
    sa.Column('expect_law', sa.String(length=120), nullable=True),
    sa.Column('expect_article', sa.String(length=40), nullable=True),
    sa.Column('top_k', sa.Integer(), nullable=False),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('created_by', sa.String(length=64), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_table('console_canned_replies',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('text', sa.Text(), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('updated_by', sa.String(length=64), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )


def downgrade() -> None:
    op.drop_table('console_canned_replies')
    op.drop_table('kb_golden')
    op.drop_table('kb_versions')
    with op.batch_alter_table('kb_entries', schema=None) as batch_op:
        batch_op.drop_index('ix_kb_entries_domain')
    op.drop_table('kb_entries')
