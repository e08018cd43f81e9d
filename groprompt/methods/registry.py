"""The method registry: how the harness finds every method (:func:`discover_methods`) and checks a run's options
against a method's ``__init__`` before anything is loaded.

Methods are found in three places:

1. the harness itself (GroPrompt, :mod:`groprompt.methods.prompter`);
2. the Python entry-point group ``groprompt.methods`` (a package of yours: ``[project.entry-points."groprompt.methods"]
   my_method = "my_package.module:MyMethod"``);
3. every ``*.py`` module in a ``baselines/`` folder: each :class:`~groprompt.methods.Method` subclass defined in it is
   registered under its ``name``. Drop a file there and ``groprompt methods`` lists it.

A module that fails to import is reported with its error, and the other methods stay available.
"""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

from groprompt.errors import GroPromptError
from groprompt.methods.base import Method
from groprompt.plugins import describe_import_error, load_module_file, plugin_files

ENTRY_POINT_GROUP = "groprompt.methods"
BUILTIN_METHODS: tuple[str, ...] = ("groprompt.methods.prompter:GroPrompt",)
"""Methods that ship with the harness, as ``module:Class`` (imported lazily: they pull in torch)."""


@dataclass(frozen=True)
class MethodEntry:
    """A registered method, or a module that failed to provide one."""

    name: str
    source: str
    cls: type[Method] | None = None
    error: str | None = None

    @property
    def description(self) -> str:
        if self.cls is None:
            return f"(failed to load: {self.error})"
        return self.cls.description


@dataclass
class Registry:
    """Every method found, by name, plus the modules that failed to load."""

    entries: dict[str, MethodEntry] = field(default_factory=dict)
    failures: list[MethodEntry] = field(default_factory=list)

    def add(self, cls: type[Method], source: str) -> None:
        name = getattr(cls, "name", None)
        if not isinstance(name, str) or not name:
            self.failures.append(MethodEntry(cls.__name__, source, error="class has no `name` string attribute"))
            return
        if name in self.entries:
            self.failures.append(
                MethodEntry(name, source, error=f"name {name!r} is already taken by {self.entries[name].source}")
            )
            return
        self.entries[name] = MethodEntry(name, source, cls=cls)

    def get(self, name: str) -> type[Method]:
        """The method class called ``name``; an error listing the valid names (and load failures) otherwise."""
        entry = self.entries.get(name)
        if entry is not None and entry.cls is not None:
            return entry.cls
        failed = [f for f in self.failures if f.name == name]
        if failed:
            raise GroPromptError(f"method {name!r} failed to load: {failed[0].error}", path=failed[0].source,
                                 fix="fix the module's import error (run `groprompt methods` to see all)")
        raise GroPromptError(
            f"unknown method {name!r}; available: {', '.join(sorted(self.entries)) or 'none'}",
            fix="run `groprompt methods` to list methods, or add a module to baselines/",
        )

    def create(self, name: str, options: Mapping[str, Any] | None = None) -> Method:
        """Instantiate method ``name`` with ``options``, checked against its ``__init__`` signature first."""
        cls = self.get(name)
        options = dict(options or {})
        check_options(cls, options)
        return cls(**options)


_VARIADIC = (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD)


def _init_parameters(cls: type[Method]) -> list[inspect.Parameter]:
    """The parameters of ``cls.__init__`` after ``self``; none for a class that inherits ``object.__init__``."""
    if cls.__init__ is object.__init__:
        return []
    return list(inspect.signature(cls.__init__).parameters.values())[1:]


def check_options(cls: type[Method], options: Mapping[str, Any]) -> None:
    """Raise a named error for option names ``cls.__init__`` does not take, or required parameters ``options``
    lacks; called before anything is loaded. A method without its own ``__init__`` takes no options."""
    parameters = _init_parameters(cls)
    accepts_any = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters)
    valid = [p.name for p in parameters if p.kind not in _VARIADIC]
    unknown = sorted(set(options) - set(valid))
    if unknown and not accepts_any:
        raise GroPromptError(f"method {cls.name!r} has no option(s) {', '.join(unknown)}; "
                             f"valid: {', '.join(valid) or 'none'}",
                             fix="correct the option names (--option key=value, or the config's method options)")
    missing = [name for name in required_options(cls) if name not in options]
    if missing:
        raise GroPromptError(f"method {cls.name!r} needs option(s) {', '.join(missing)}",
                             fix=" ".join(f"--option {name}=VALUE" for name in missing))


def required_options(cls: type[Method]) -> list[str]:
    """The options a run of ``cls`` must give: ``__init__``'s parameters without a default, in order."""
    return [p.name for p in _init_parameters(cls) if p.kind not in _VARIADIC and p.default is inspect.Parameter.empty]


def accepts_option(cls: type[Method], name: str) -> bool:
    """Whether ``cls.__init__`` has a parameter called ``name``."""
    return any(p.name == name and p.kind not in _VARIADIC for p in _init_parameters(cls))


def _methods_in_module(module: object) -> list[type[Method]]:
    """Method subclasses defined (not merely imported) in ``module``, in definition order."""
    found = [
        obj for obj in vars(module).values()
        if inspect.isclass(obj) and issubclass(obj, Method) and not inspect.isabstract(obj)
        and obj.__module__ == module.__name__
    ]
    return sorted(found, key=lambda cls: inspect.getsourcelines(cls)[1])


def discover_methods(baselines_dir: str | Path | None = "baselines") -> Registry:
    """Find every method: built-in, entry points of group ``groprompt.methods``, and ``baselines_dir/*.py``.

    ``baselines_dir`` is relative to the working directory (the workflow runs from the repository root); a missing
    folder simply contributes nothing.
    """
    registry = Registry()
    for target in BUILTIN_METHODS:
        module_name, _, class_name = target.partition(":")
        try:
            registry.add(getattr(importlib.import_module(module_name), class_name), f"groprompt ({module_name})")
        except Exception as error:  # a broken optional dependency must not hide the other methods
            registry.failures.append(MethodEntry(class_name, module_name, error=describe_import_error(error)))
    for entry_point in entry_points(group=ENTRY_POINT_GROUP):
        try:
            registry.add(entry_point.load(), f"entry point {entry_point.value}")
        except Exception as error:
            registry.failures.append(MethodEntry(entry_point.name, entry_point.value, error=describe_import_error(error)))
    for path in plugin_files(Path(baselines_dir) if baselines_dir is not None else None):
        try:
            module = load_module_file(path, "groprompt_baselines")
        except Exception as error:
            registry.failures.append(MethodEntry(path.stem, str(path), error=describe_import_error(error)))
            continue
        classes = _methods_in_module(module)
        if not classes:
            registry.failures.append(MethodEntry(path.stem, str(path), error="defines no Method subclass"))
        for cls in classes:
            registry.add(cls, str(path))
    return registry
