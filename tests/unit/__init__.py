"""Fast tests: no server, no database."""
