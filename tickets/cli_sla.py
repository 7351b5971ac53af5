"""`mingbai sla tick|run`."""
from tickets.sla import main  # noqa: F401
