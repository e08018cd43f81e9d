"""The method interface and registry: what a prompter must do, and how the harness finds every prompter.

A *method* turns a video and its referring expressions into one box per frame per expression (pixels, with a
score); the shared frozen segmentor turns boxes into masks. A method that segments end to end may return masks
itself, and then the segmentor is skipped for it.

Methods are online by default (``docs/method_spec.md`` §6): the runner shows a method one frame at a time, in order,
together with every expression of the video, and a method never receives a future frame. A method that needs the
whole video declares ``online = False`` and is then given the :class:`~groprompt.data.Video` itself.

Methods are found in three places (:func:`discover_methods`):

1. the harness itself (GroPrompt);
2. the Python entry-point group ``groprompt.methods`` (a package of yours: ``[project.entry-points."groprompt.methods"]
   my_method = "my_package.module:MyMethod"``);
3. every ``*.py`` module in a ``baselines/`` folder: each :class:`Method` subclass defined in it is registered under
   its ``name``. Drop a file there and ``groprompt methods`` lists it.

A module that fails to import is reported with its error, and the other methods stay available.
"""

from __future__ import annotations

import importlib
import inspect
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from groprompt.data.model import Expression, FrameAnnotation, Video, tight_box
from groprompt.errors import GroPromptError
from groprompt.plugins import describe_import_error, load_module_file, plugin_files

ENTRY_POINT_GROUP = "groprompt.methods"
BUILTIN_METHODS: tuple[str, ...] = ("groprompt.groprompt_method:GroPrompt",)
"""Methods that ship with the harness, as ``module:Class`` (imported lazily: they pull in torch)."""


@dataclass(frozen=True)
class FrameOutput:
    """A method's answer for one expression on one frame.

    Attributes:
        box: ``(4,)`` float ``(x0, y0, x1, y1)`` pixels of the frame, or None for "no box on this frame" (the
            object is judged absent: the frame gets an empty mask).
        score: the method's confidence in the box (nan when it has none).
        mask: ``(H, W)`` bool for methods that segment end to end (``Method.outputs_masks``); None otherwise.
    """

    box: np.ndarray | None
    score: float = float("nan")
    mask: np.ndarray | None = None

    @classmethod
    def of_mask(cls, mask: np.ndarray, score: float = float("nan")) -> FrameOutput:
        """The answer of a method that segments: ``mask`` (``(H, W)`` bool) with its tight box as the box (the
        "Box" metrics score it), None where the mask is empty."""
        return cls(box=tight_box(mask) if mask.any() else None, score=score, mask=mask)


@dataclass(frozen=True)
class VideoHeader:
    """What an online method may know about a video before seeing its frames: no pixels, no ground truth."""

    dataset: str
    name: str
    size: tuple[int, int]
    num_frames: int
    expressions: tuple[Expression, ...]

    @classmethod
    def of(cls, video: Video) -> VideoHeader:
        return cls(video.dataset, video.name, video.size, video.num_frames, video.expressions)


class Method(ABC):
    """A prompter. Subclass it, set ``name`` and ``description``, implement :meth:`predict`.

    Options from the workflow config arrive as keyword arguments of ``__init__``; type them, and the registry
    checks a config against the signature (an unknown option is an error naming the valid ones).
    """

    name: ClassVar[str]
    """The registry name (``groprompt infer --method NAME``)."""
    description: ClassVar[str]
    """One line for ``groprompt methods``."""
    online: ClassVar[bool] = True
    """Online methods see frames one at a time, in order; offline ones receive the whole video in :meth:`start`."""
    outputs_masks: ClassVar[bool] = False
    """True for methods that return masks themselves; the shared segmentor is then skipped."""
    uses_ground_truth: ClassVar[bool] = False
    """True for oracles (GT box + SAM): :meth:`predict` then receives the frame's ground truth."""

    def start(self, video: VideoHeader | Video) -> None:  # noqa: B027 - optional hook, empty by default
        """Called once per video before its first frame: a :class:`VideoHeader` if online, the Video if offline."""

    @abstractmethod
    def predict(
        self,
        frame: np.ndarray,
        index: int,
        expressions: Sequence[Expression],
        ground_truth: FrameAnnotation | None = None,
    ) -> list[FrameOutput]:
        """One :class:`FrameOutput` per expression, in order, for frame ``index`` (``(H, W, 3) uint8`` RGB)."""

    def expression_records(self) -> Mapping[str, Mapping[str, Any]]:
        """What the method knows about each expression of the video it just ran that per-frame boxes and scores
        cannot hold (say, which of several candidates it chose and by which rule), by ``exp_id``, as JSON values
        (no nan: write None). Called once per video after its last frame; the runner writes it into the video's
        ``masks/<video>.json`` under ``"records"``. None by default."""
        return {}


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
