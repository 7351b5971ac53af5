"""residents' feedback on answers and the 未解答 inbox

Revision ID: 0004_feedback
Revises: 0003_knowledge_console
Create Date: 2026-12-06 13:00:00

- answer_feedback: 有帮助 / 没帮助 on a bot answer (messages.id), the latest word per answer
- unanswered_items: questions the bot did not answer well ("not sure", fallback, 没帮助, handoffs
  answered by staff), with the staff answer and the inbox status (tickets.feedback)
"""
from alembic import op
import sqlalchemy as sa

# Registers the tables on mingbai.db.Base for autogenerate / model-sync checks until
# mingbai/models.py imports tickets.feedback itself (then this line can go).


revision = '0004_feedback'
down_revision = '0003_knowledge_console'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('answer_feedback',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('resident_key', sa.String(length=160), nullable=False),
    sa.Column('channel', sa.String(length=16), nullable=False),
    sa.Column('answer_message_id', sa.Integer(), nullable=True),
    sa.Column('question_message_id', sa.Integer(), nullable=True),
    sa.Column('helpful', sa.Boolean(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('answer_feedback', schema=None) as batch_op:
        batch_op.create_index('ix_answer_feedback_resident', ['resident_key', 'answer_message_id'], unique=False)

    op.create_table('unanswered_items',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('ref', sa.String(length=80), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('resident_key', sa.String(length=160), nullable=False),
    sa.Column('channel', sa.String(length=16), nullable=False),
    sa.Column('question', sa.Text(), nullable=False),
    sa.Column('question_message_id', sa.Integer(), nullable=True),
    sa.Column('answer_message_id', sa.Integer(), nullable=True),
    sa.Column('ticket_id', sa.Integer(), nullable=True),
    sa.Column('staff_answer', sa.Text(), nullable=True),
    sa.Column('staff_author', sa.String(length=80), nullable=True),
    sa.Column('status', sa.String(length=12), nullable=False),
    sa.Column('draft_id', sa.String(length=80), nullable=True),
    sa.Column('handled_by', sa.String(length=64), nullable=True),
    sa.Column('handled_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('ref')
    )
    with op.batch_alter_table('unanswered_items', schema=None) as batch_op:
        batch_op.create_index('ix_unanswered_resident', ['resident_key'], unique=False)
        batch_op.create_index('ix_unanswered_status', ['status', 'created_at'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('unanswered_items', schema=None) as batch_op:
        batch_op.drop_index('ix_unanswered_status')
        batch_op.drop_index('ix_unanswered_resident')
    op.drop_table('unanswered_items')
    with op.batch_alter_table('answer_feedback', schema=None) as batch_op:
        batch_op.drop_index('ix_answer_feedback_resident')
    op.drop_table('answer_feedback')
