"""The tickets area's public Python API (docs/ARCHITECTURE.md "tickets"), used by the bot's
actions, the connectors' gateway, the console and the REST API. A facade only: every name is
re-exported from the module of its subject, where the code lives —

  records.py     TicketError, ticket dicts, lookups, lists    residents.py  consent, location, forgetting
  transcript.py  the messages in and out                      intake.py     opening a ticket
  casework.py    staff work: status, claim, notes, replies    handoff.py    to a person and back
  notify.py      staff notifications

Errors meant for people are `TicketError` (a ValueError) with a Chinese message. To replace a
function in a test, patch it in its subject module: the other modules call it from there.
"""
from __future__ import annotations

from tickets.casework import add_note, ask_satisfaction, change_status, claim, notes, set_satisfaction, staff_reply
from tickets.handoff import active_handoff, end_handoff, in_handoff, start_handoff
from tickets.intake import DEFAULT_DOMAIN, open_ticket
from tickets.lifecycle import ConflictError, TransitionError
from tickets.notify import mark_notifications_read, unread_notifications
from tickets.records import TicketError, get_ticket, list_tickets, ticket_dict, ticket_history, tickets_for_resident
from tickets.residents import forget_resident, has_consent, record_consent, set_location
from tickets.transcript import CONVERSATION_GAP, record_message, transcript

__all__ = [
    "TicketError", "TransitionError", "ConflictError", "record_message", "has_consent", "record_consent",
    "forget_resident", "set_location", "open_ticket", "start_handoff", "end_handoff", "in_handoff",
    "tickets_for_resident", "get_ticket", "list_tickets", "change_status", "claim", "add_note", "staff_reply",
    "ask_satisfaction", "set_satisfaction", "transcript", "active_handoff", "mark_notifications_read",
    "ticket_history", "unread_notifications", "notes", "ticket_dict", "DEFAULT_DOMAIN", "CONVERSATION_GAP",
]
