"""Video segmenters that carry an object through a video: SAM 2 propagation from a box prompt, SAM 3 masklets from a
text prompt. Each is a wrapper over the transformers model and processor, loaded from a local Hugging Face folder
(:mod:`groprompt.hf_folders`); the baselines in ``baselines/`` turn them into methods."""
