"""Import every area's tables so that Base.metadata (and Alembic) sees them all."""
import mingbai.outbox  # noqa: F401  (connector_outbox)
import tickets.models  # noqa: F401
import connectors.store  # noqa: F401
import knowledge.models  # noqa: F401
import tickets.feedback  # noqa: F401
