"""Auction endings and scheduled starts of MadeInPK Live, timed in the production topology
(``bench/README.md``).

Run by hand from the project root (not a pytest test)::

    uv run python bench/lifecycle_bench.py             # everything, about 4 minutes
    uv run python bench/lifecycle_bench.py --help      # counts, worker variants, profiling

It creates a throw-away PostgreSQL database, migrates it with ``python -m madeinpk migrate``,
starts one app process (uvicorn), ``taskiq worker madeinpk.tasks:broker --workers N`` and exactly
one ``taskiq scheduler madeinpk.scheduling:scheduler --update-interval 1`` (all on Redis db 14 and
a private task queue, each in its own process group; the worker and the scheduler are ready when
their health check says so), and measures:

* **Scenario A** (``scenario_a``): 20 auctions ending within one second (T + i*40 ms), each with
  a WebSocket watcher; latency = arrival of ``auction_ended`` - that auction's end time. Repeated
  3 times with different sub-second phases of T (the scheduler ticks on whole seconds).
* **Scenario B** (``scenario_b``): 1,000 auctions with one common end time; time from that end
  time until every one is ``ended`` in the database (polled every 100 ms), and the consistency of
  what the endings wrote (one order per auction with bids, notifications, outbox emails).
* **Scenario C** (``scenario_c``): K scheduled auctions (``--starts``, one run per K) with one
  start time, each with a WebSocket watcher connected before it; latency = arrival of
  ``auction_started`` - the start time, every watcher told once, and what the starts wrote.

The whole thing is repeated per ``--workers`` value (default 2 then 1; only the worker process is
restarted). Everything is cleaned up at the end, also on failure: process groups killed, Redis
db 14 flushed, the database dropped ``WITH (FORCE)``. Results: a table on stdout and
``bench/results/lifecycle_bench-<timestamp>.json`` (git-ignored).

The modules: ``options`` (command line and environment; imports no ``madeinpk``, so that
``--src`` can point the import elsewhere first), ``run`` (orchestration: database, processes,
variants, results), ``scenario_a``, ``scenario_b`` and ``scenario_c`` (one scenario each, with
its table), ``watchers`` (a WebSocket watcher per auction),
``context`` (what a scenario is given, summary figures, where an ending's or start's time
went),
``processes`` (the processes and their CPU), ``logs`` (taskiq's log lines), ``data`` (users,
auctions, and checking what the endings and starts wrote). Shared with the other benchmarks:
``bench/harness.py`` (logging, percentiles, ports, git state, the ``/proc`` process table
and the machine's CPU ticks, the HTTP readiness probe, users with their profiles).
"""
