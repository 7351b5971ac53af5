"""Grid scope: which tickets a staff member may see, work on and open. The one rule for the
console (consoles/access.py) and the REST API (tickets/api.py).

- A staff member oversees their grid node and everything under it; an admin without a node
  oversees everything; anyone else without a node (a reviewer) oversees nothing.
- See a ticket: its current node or its origin grid is overseen, or it is assigned to them.
- Work on it (status, notes, replies, claim, handoff …): its current node is overseen, or it is
  assigned to them. An escalated ticket is owned by the tier it went to: the grid it left still
  sees it, read only.
- Open one: only in a grid they oversee (tickets.intake.open_ticket(within=…)).

`user` is the dict of tickets.users (get_user / user_for_token). The installation's own API
token acts for the system and has no user: tickets/api.py gives it everything itself.
"""
from __future__ import annotations

from typing import Optional

from sqlalchemy import select

from mingbai.db import session_scope
from tickets.grids import descendants_ids
from tickets.models import GridNode, Ticket
from tickets.records import TicketError

ADMIN = "管理员"


class OutOfScope(TicketError):
    """Outside the user's grid scope (the console and the API answer 403)."""


def node_ids(user: dict) -> Optional[set[int]]:
    """Node ids the user oversees (their node and everything under it); None = everything."""
    if not user["node_id"]:
        return None if user["role"] == ADMIN else set()
    with session_scope() as s:
        node = s.get(GridNode, user["node_id"])
        return descendants_ids(s, node) if node else set()


def _allows(user: dict, number: str, write: bool) -> Optional[bool]:
    ids = node_ids(user)
    if ids is None:
        return True
    with session_scope() as s:
        row = s.execute(select(Ticket.node_id, Ticket.grid_id, Ticket.assignee)
                        .where(Ticket.number == number)).first()
    if row is None:
        return None
    node_id, grid_id, assignee = row
    if assignee == user["username"] or node_id in ids:
        return True
    return not write and grid_id in ids


def can_see(user: dict, number: str) -> Optional[bool]:
    """May the user see ticket `number`? None when there is no such ticket."""
    return _allows(user, number, write=False)


def can_write(user: dict, number: str) -> Optional[bool]:
    """May the user work on ticket `number`? None when there is no such ticket."""
    return _allows(user, number, write=True)
