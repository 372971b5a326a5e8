"""Name -> object registries for plugins: RL algorithms, environment families, HPO tools, trainer
backends, CL strategies, datasets and models.

A name resolves, in this order, to an object registered in this process (``registry.add``), a
built-in declared as a dotted path (imported on first use, so naming a heavy backend costs nothing
until it trains), a Python entry point in the registry's group (an installed package), or a dotted
path ``package.module:Attribute`` given as the name. Entry points and dotted paths resolve in
every worker process too, which is why protocols that use a plugin name it that way.
"""

from __future__ import annotations

import importlib
from importlib.metadata import entry_points
from typing import Callable, Generic, Mapping, TypeVar

from .errors import UserError

T = TypeVar("T")


def import_dotted(path: str) -> object:
    """``package.module:Attribute`` -> the attribute."""
    module_name, _, attribute = path.partition(":")
    return getattr(importlib.import_module(module_name), attribute)


class Registry(Generic[T]):
    """A named collection of plugins of one kind."""

    def __init__(self, kind: str, entry_point_group: str, builtins: Mapping[str, str] | None = None) -> None:
        self.kind = kind
        self.entry_point_group = entry_point_group
        self._builtins = dict(builtins or {})
        self._items: dict[str, T] = {}

    def register(self, name: str) -> Callable[[T], T]:
        """Decorator: ``@STRATEGIES.register("my-method")`` above a builder."""

        def decorate(obj: T) -> T:
            self._items[name] = obj
            return obj

        return decorate

    def add(self, name: str, obj: T) -> None:
        self._items[name] = obj

    def names(self) -> list[str]:
        """Every name this registry resolves: built-ins, this process's registrations, entry points."""
        installed = {ep.name for ep in entry_points(group=self.entry_point_group)}
        return sorted(set(self._items) | set(self._builtins) | installed)

    def get(self, name: str) -> T:
        if name in self._items:
            return self._items[name]
        if name in self._builtins:
            self._items[name] = import_dotted(self._builtins[name])  # type: ignore[assignment]
            return self._items[name]
        for ep in entry_points(group=self.entry_point_group):
            if ep.name == name:
                return ep.load()
        if ":" in name:
            try:
                return import_dotted(name)  # type: ignore[return-value]
            except (ImportError, AttributeError) as error:
                raise UserError(f"unknown {self.kind} {name!r}: cannot import it ({error})") from None
        raise UserError(f"unknown {self.kind} {name!r}; known: {', '.join(self.names())} (or a dotted path module:Class)")
