from tests.tickets.fixtures import db, pg_db, sqlite_db  # noqa: F401
