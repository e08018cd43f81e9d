"""Grounded-SAM (Table 6): the pre-trained Grounding DINO, zero-shot, prompting the frozen SAM.

The same prompter code as GroPrompt (:class:`groprompt.methods.prompter.PrompterMethod`): the top-1 box per frame
with no score threshold (docs/method_spec.md §7: RVOS always has one referent). What differs is the checkpoint: the
grounder as pre-trained on images (``groundingdino_swint_ogc.pth`` / a ``grounding-dino-tiny`` folder, or the
stand-in grounder of the embedded default), never fine-tuned on video. The option ``multi_box_threshold`` (not in the
paper) also prompts SAM with every other box above that confidence, for expressions that refer to several objects
(:mod:`groprompt.methods.prompter`).

    groprompt infer --method grounded-sam --option checkpoint=PATH --option size=swin-t ...
"""

from __future__ import annotations

from groprompt.methods.prompter import PrompterMethod


class GroundedSAM(PrompterMethod):
    """Grounded-SAM: the pre-trained grounder's top-1 box per frame, zero-shot (docs/method_spec.md §7)."""

    name = "grounded-sam"
    description = "Grounded-SAM: the pre-trained Grounding DINO zero-shot, top-1 box per frame, segmented by SAM."
