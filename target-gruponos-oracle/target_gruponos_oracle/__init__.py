"""Singer target for Oracle, PostgreSQL and SQLite."""
