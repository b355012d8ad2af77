"""Alembic migrations of the ledger schema, run from code by `billing.schema.upgrade_database`."""
