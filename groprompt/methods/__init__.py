"""Methods: the interface every prompter implements (:mod:`.base`: :class:`Method`, :class:`VideoHeader`,
:class:`FrameOutput`), the registry that finds them all (:mod:`.registry`: built-in, entry points of group
``groprompt.methods``, ``baselines/*.py``), and the harness's own Grounding-DINO methods, GroPrompt among them
(:mod:`.prompter`: imported when the registry lists the built-in methods, never here, so that importing the interface
stays light).

The public names of the interface and the registry are re-exported here.
"""

from groprompt.methods.base import FrameOutput, Method, VideoHeader
from groprompt.methods.registry import (
    BUILTIN_METHODS,
    ENTRY_POINT_GROUP,
    MethodEntry,
    Registry,
    accepts_option,
    check_options,
    discover_methods,
    required_options,
)

__all__ = [
    "BUILTIN_METHODS", "ENTRY_POINT_GROUP", "FrameOutput", "Method", "MethodEntry", "Registry", "VideoHeader",
    "accepts_option", "check_options", "discover_methods", "required_options",
]
