"""messages waiting for the bot while Rasa or the action server is down

Revision ID: 0005_deferred_turns
Revises: 0004_feedback
Create Date: 2026-12-07 10:00:00

- connector_deferred_turn: a resident's message that needs the bot (转人工, 查进度, a form answer …)
  and came while Rasa / the action server was down; replayed in order per resident once the bot
  answers again (connectors.deferred), the replies going out through the outbox
"""
from alembic import op
import sqlalchemy as sa


revision = '0005_deferred_turns'
down_revision = '0004_feedback'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('connector_deferred_turn',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('ref', sa.String(length=32), nullable=False),
    sa.Column('resident_key', sa.String(length=160), nullable=False),
    sa.Column('channel', sa.String(length=16), nullable=False),
    sa.Column('route', sa.String(length=32), nullable=False),
    sa.Column('msg_key', sa.String(length=160), nullable=True),
    sa.Column('text', sa.Text(), nullable=False),
    sa.Column('triage_line', sa.Text(), nullable=True),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('locked_until', sa.DateTime(timezone=True), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('ref')
    )
    with op.batch_alter_table('connector_deferred_turn', schema=None) as batch_op:
        batch_op.create_index('ix_connector_deferred_resident', ['resident_key', 'id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('connector_deferred_turn', schema=None) as batch_op:
        batch_op.drop_index('ix_connector_deferred_resident')
    op.drop_table('connector_deferred_turn')
