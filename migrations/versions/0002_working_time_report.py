"""working-time calendars, on-call, escalation notes, truthful SLA columns

Revision ID: 0002_working_time
Revises: 0001
Create Date: 2026-12-06 11:00:00

- work_calendars: working hours per weekday, holidays and 调休 workdays (tickets.clock)
- grid_nodes.calendar / grid_nodes.on_call (值班)
- ticket_escalations.note: why each step happened, in words
- tickets.first_acknowledged_at / first_answered_at / ack_sla / answer_sla (+ index on created_at
  for the 平安报表), back-filled from the existing rows and escalations
"""
from alembic import op
import sqlalchemy as sa


revision = '0002_working_time'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('work_calendars',
    sa.Column('code', sa.String(length=32), nullable=False),
    sa.Column('name', sa.String(length=64), nullable=False),
    sa.Column('hours', sa.JSON(), nullable=False),
    sa.Column('holidays', sa.JSON(), nullable=False),
    sa.Column('workdays', sa.JSON(), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('code')
    )
    with op.batch_alter_table('grid_nodes', schema=None) as batch_op:
        batch_op.add_column(sa.Column('calendar', sa.String(length=32), nullable=True))
        batch_op.add_column(sa.Column('on_call', sa.String(length=64), nullable=True))
    with op.batch_alter_table('ticket_escalations', schema=None) as batch_op:
        batch_op.add_column(sa.Column('note', sa.Text(), nullable=True))
    with op.batch_alter_table('tickets', schema=None) as batch_op:
        batch_op.add_column(sa.Column('first_acknowledged_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('first_answered_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('ack_sla', sa.String(length=8), nullable=True))
        batch_op.add_column(sa.Column('answer_sla', sa.String(length=8), nullable=True))
        batch_op.create_index('ix_tickets_created', ['created_at'], unique=False)

    # Back-fill: a breach escalation means the deadline was missed; otherwise compare the
    # recorded acknowledgement / answer with the deadline in force.
    op.execute("UPDATE tickets SET first_acknowledged_at = acknowledged_at, first_answered_at = answered_at")
    op.execute("UPDATE tickets SET ack_sla = 'missed' WHERE id IN "
               "(SELECT ticket_id FROM ticket_escalations WHERE reason LIKE 'ack%')")
    op.execute("UPDATE tickets SET answer_sla = 'missed' WHERE id IN "
               "(SELECT ticket_id FROM ticket_escalations WHERE reason LIKE 'answer%')")
    op.execute("UPDATE tickets SET ack_sla = CASE WHEN acknowledged_at <= ack_due THEN 'met' ELSE 'missed' END "
               "WHERE ack_sla IS NULL AND acknowledged_at IS NOT NULL")
    op.execute("UPDATE tickets SET answer_sla = CASE WHEN answered_at <= answer_due THEN 'met' ELSE 'missed' END "
               "WHERE answer_sla IS NULL AND answered_at IS NOT NULL")


def downgrade() -> None:
    with op.batch_alter_table('tickets', schema=None) as batch_op:
        batch_op.drop_index('ix_tickets_created')
        batch_op.drop_column('answer_sla')
        batch_op.drop_column('ack_sla')
        batch_op.drop_column('first_answered_at')
        batch_op.drop_column('first_acknowledged_at')
    with op.batch_alter_table('ticket_escalations', schema=None) as batch_op:
        batch_op.drop_column('note')
    with op.batch_alter_table('grid_nodes', schema=None) as batch_op:
        batch_op.drop_column('on_call')
        batch_op.drop_column('calendar')
    op.drop_table('work_calendars')
