"""SynRVOS: the synthetic referring-video benchmark the embedded default study runs on (docs/synthetic_benchmark.md).

``generate_synrvos(out, get_preset("default"), seed)`` writes it in the Ref-YouTube-VOS layout; read it back with
:func:`groprompt.data.refytvos.load_refytvos`. ``layout="mevis"`` writes the same scenes in the MeViS layout, with
expressions that refer to several objects. Modules, in pipeline order: :mod:`.presets` (sizes and knobs),
:mod:`.scene` (objects and motion), :mod:`.backgrounds` (photograph crops), :mod:`.render` (frames and masks),
:mod:`.expressions` (meanings, the uniqueness checker, wordings), :mod:`.plurals` (expressions that refer to several
objects), :mod:`.generate` (one video), :mod:`.writer` (the dataset on disk; :mod:`.mevis_writer` for the MeViS
layout, :mod:`.layout_parts` for what the layouts share).
"""

from groprompt.data.synrvos.expressions import (
    KINDS,
    Checker,
    ObjectTrack,
    Referring,
    is_unambiguous,
    referents,
)
from groprompt.data.synrvos.generate import SPLITS, GeneratedVideo, generate_video, video_statistics
from groprompt.data.synrvos.presets import PRESETS, SynRVOSConfig, get_preset
from groprompt.data.synrvos.writer import GENERATOR_VERSION, generate_synrvos

__all__ = [
    "GENERATOR_VERSION",
    "KINDS",
    "PRESETS",
    "SPLITS",
    "Checker",
    "GeneratedVideo",
    "ObjectTrack",
    "Referring",
    "SynRVOSConfig",
    "generate_synrvos",
    "generate_video",
    "get_preset",
    "is_unambiguous",
    "referents",
    "video_statistics",
]
