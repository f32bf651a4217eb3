# MadeInPK Live — everyday commands. `just --list` shows them all.

set dotenv-load := false

# Migrate, seed an empty database, serve on HOST:PORT (default 127.0.0.1:8000).
serve *ARGS:
    uv run madeinpk serve {{ARGS}}

# The whole test suite, both tiers, on the topology the environment selects (embedded when unset).
test *ARGS:
    uv run pytest {{ARGS}}

# The unit tier alone (tests/unit/): pure rules, money, parsing, schemas; no app, server or
# database, done in seconds.
test-unit *ARGS:
    uv run pytest tests/unit {{ARGS}}

# Apply pending migrations.
migrate:
    uv run madeinpk migrate

# Load the demo data (idempotent).
seed:
    uv run madeinpk seed

# Create a staff user for /admin/.
createsuperuser:
    uv run madeinpk createsuperuser

# Taskiq worker: emails, auction endings, payment deadlines (production topology, needs
# REDIS_URL; embedded, tasks run inside `serve`). Run as many as you like.
worker *ARGS:
    uv run taskiq worker madeinpk.tasks:broker {{ARGS}}

# Taskiq scheduler: EXACTLY ONE per deployment (production topology, needs REDIS_URL). The
# 1-second update interval matters: taskiq's 60-second default would end auctions a minute late.
scheduler:
    uv run taskiq scheduler madeinpk.scheduling:scheduler --update-interval 1

# Format, lint and type-check (mypy: src and tests, settings in pyproject.toml).
lint:
    uv run ruff format --check src tests piccolo_conf.py piccolo_migrations
    uv run ruff check src tests piccolo_conf.py
    uv run mypy
