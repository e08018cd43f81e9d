"""GroPrompt reproducibility harness.

The code follows the paper's seam: a *prompter* (a method) outputs one box per frame for a referring expression,
a frozen *segmentor* (SAM) turns boxes into masks, *metrics* score masks and boxes read from disk, and *reporting*
builds the paper's tables from metric files.
"""

__version__ = "0.1.0"

from groprompt.errors import GroPromptError

__all__ = ["GroPromptError", "__version__"]
