"""How tasks are declared without a broker, and what a running task is given.

A task is declared where its work lives, ``@task("madeinpk.end_auction")`` in a domain's
``tasks.py``, with no broker at hand. Brokers are built from a ``Settings`` by whoever runs the
tasks, and every declared task is registered on them (``madeinpk.tasks``): the app factory from
the settings the app gets, ``taskiq worker madeinpk.tasks:broker`` and ``taskiq scheduler
madeinpk.scheduling:scheduler`` from the settings their process reads once. So there is no
broker built at import, from an environment the app may not be using, and a domain's tasks load
no Redis code: brokers are built by the assembly (``madeinpk.tasks.build_task_broker``).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from madeinpk.after_commit import Effects
from madeinpk.settings import Settings

TaskFunction = Callable[..., Awaitable[Any]]


@dataclass(frozen=True, slots=True)
class TaskDeclaration:
    """A task as its domain declares it: the name work is handed over by, the function, and
    Taskiq labels (``schedule=[...]`` for the periodic ones)."""

    name: str
    function: TaskFunction
    labels: Mapping[str, Any] = field(default_factory=dict)


def task(name: str, **labels: Any) -> Callable[[TaskFunction], TaskDeclaration]:
    """Declare a task; ``madeinpk.tasks`` finds it in its module and registers it on every
    broker the project builds."""

    def declare(function: TaskFunction) -> TaskDeclaration:
        return TaskDeclaration(name=name, function=function, labels=labels)

    return declare


def task_settings(state: Any) -> Settings:
    """The settings of the process running the task (the app's, or the worker's)."""
    settings = getattr(state, "settings", None)
    if not isinstance(settings, Settings):
        raise RuntimeError("No settings: the worker did not start up")
    return settings


def task_effects(state: Any) -> Effects:
    effects = getattr(state, "effects", None)
    if effects is None:
        raise RuntimeError("No post-commit effects: the worker did not start up")
    return effects
