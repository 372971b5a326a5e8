"""Name -> object registries for plugins: RL algorithms, HPO tools (and later CL strategies).

A plugin is found, in this order, by a name registered in this process (``@registry.register``),
by a Python entry point in the registry's group (an installed package), or by a dotted path
``package.module:Attribute``. Entry points and dotted paths resolve in every worker process too,
which is why protocols that use a plugin name it that way.
"""

from __future__ import annotations

import importlib
from importlib.metadata import entry_points
from typing import Callable, Generic, TypeVar

from .errors import UserError

T = TypeVar("T")


class Registry(Generic[T]):
    """A named collection of plugins of one kind."""

    def __init__(self, kind: str, entry_point_group: str) -> None:
        self.kind = kind
        self.entry_point_group = entry_point_group
        self._items: dict[str, T] = {}

    def register(self, name: str) -> Callable[[T], T]:
        """Decorator: ``@ALGORITHMS.register("my-algo")`` above a class."""

        def decorate(obj: T) -> T:
            self._items[name] = obj
            return obj

        return decorate

    def add(self, name: str, obj: T) -> None:
        self._items[name] = obj

    def names(self) -> list[str]:
        """Every name this registry resolves: built-ins, this process's registrations, entry points."""
        installed = {ep.name for ep in entry_points(group=self.entry_point_group)}
        return sorted(set(self._items) | installed)

    def get(self, name: str) -> T:
        if name in self._items:
            return self._items[name]
        for ep in entry_points(group=self.entry_point_group):
            if ep.name == name:
                return ep.load()
        if ":" in name:
            module_name, _, attribute = name.partition(":")
            try:
                return getattr(importlib.import_module(module_name), attribute)
            except (ImportError, AttributeError) as error:
                raise UserError(f"unknown {self.kind} {name!r}: cannot import it ({error})") from None
        raise UserError(f"unknown {self.kind} {name!r}; known: {', '.join(self.names())} (or a dotted path module:Class)")
