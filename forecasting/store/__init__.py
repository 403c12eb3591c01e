"""The results store (SQLAlchemy): one module per group of tables."""
