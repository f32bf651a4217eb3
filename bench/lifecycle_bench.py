#!/usr/bin/env python
"""Auction endings and scheduled starts of MadeInPK Live, in the production topology: the entry
point of the ``bench/lifecycle/`` package (its docstring and ``bench/README.md`` say what is
measured).

    uv run python bench/lifecycle_bench.py --help
    uv run python bench/lifecycle_bench.py --scenarios B --workers 2
    uv run python bench/lifecycle_bench.py --scenarios C --starts 1,500,1000
"""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench.lifecycle.options import parse_args, prepare


def main() -> int:
    args = parse_args()
    env, db_name = prepare(args)
    # Only now, with --src on sys.path, may madeinpk be imported (the rest of the package does).
    run = importlib.import_module("bench.lifecycle.run")
    return int(run.main(args, env, db_name))


if __name__ == "__main__":
    sys.exit(main())
