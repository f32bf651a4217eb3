# MadeInPK Live — everyday commands. `just --list` shows them all.

set dotenv-load := false

# Migrate, seed an empty database, serve on HOST:PORT (default 127.0.0.1:8000).
serve *ARGS:
    uv run madeinpk serve {{ARGS}}

# The whole test suite on the topology the environment selects (embedded when unset).
test *ARGS:
    uv run pytest {{ARGS}}

# Apply pending migrations.
migrate:
    uv run madeinpk migrate

# Load the demo data (idempotent).
seed:
    uv run madeinpk seed

# Create a staff user for /admin/.
createsuperuser:
    uv run madeinpk createsuperuser

# Taskiq worker: delivers emails (production topology, needs REDIS_URL; embedded, tasks run in `serve`).
worker *ARGS:
    uv run taskiq worker madeinpk.broker:broker {{ARGS}}

# Taskiq scheduler: exactly one per deployment (production topology, needs REDIS_URL).
scheduler:
    @echo "The Taskiq scheduler arrives with the auction-lifecycle issue; in the embedded topology it runs inside 'just serve'." && exit 1

# Format and lint.
lint:
    uv run ruff format --check src tests piccolo_conf.py piccolo_migrations
    uv run ruff check src tests piccolo_conf.py
