"""The database adapters: engines (PostgreSQL, SQLite), raw SQL, the Piccolo app, read replicas."""
