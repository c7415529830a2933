"""Alembic migrations for the store. Applied automatically when a store opens."""
