"""The SQLite cache: schema, reading, writing, synthetic data and CSV import."""
