"""Storage: SQLAlchemy on DATABASE_URL (SQLite file by default, PostgreSQL in production)."""
