"""Datasets: one data model (:mod:`groprompt.data.model`), a reader per benchmark, the dataset kinds that declare
each benchmark (:mod:`groprompt.data.registry`), and the SynRVOS generator."""

from groprompt.data.model import (
    VOID_LABEL,
    AnnotationSource,
    BoxOnlyVideo,
    Dataset,
    Expression,
    FrameAnnotation,
    Video,
    read_rgb,
    tight_box,
)
from groprompt.data.a2d import load_a2d
from groprompt.data.jhmdb import load_jhmdb
from groprompt.data.mevis import load_mevis
from groprompt.data.refdavis import load_refdavis
from groprompt.data.refytvos import load_refytvos
from groprompt.data.registry import BUILTIN_KINDS, DatasetKind, dataset_kind, dataset_kinds, open_dataset

__all__ = [
    "BUILTIN_KINDS",
    "DatasetKind",
    "dataset_kind",
    "dataset_kinds",
    "load_a2d",
    "load_jhmdb",
    "load_mevis",
    "load_refdavis",
    "load_refytvos",
    "open_dataset",
    "VOID_LABEL",
    "AnnotationSource",
    "BoxOnlyVideo",
    "Dataset",
    "Expression",
    "FrameAnnotation",
    "Video",
    "read_rgb",
    "tight_box",
]
