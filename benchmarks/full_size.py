"""What the benchmarks need to build the paper's models at full size with random weights, offline.

Grounding DINO Swin-B needs a BERT-base-uncased tokenizer (its phrase masks use BERT's ids of [CLS], [SEP], "." and
"?"). :func:`bert_tokenizer` writes one into a folder: the MiniLM-L6 package's vocabulary when it is installed (it
is BERT-base-uncased's), otherwise a generated vocabulary of the same size that keeps BERT's ids for the special
tokens and ASCII characters and holds the benchmark's words whole, so its sentences tokenise to as many tokens as
with the real vocabulary. Speed does not depend on which tokens the ids stand for.
"""

from __future__ import annotations

from pathlib import Path

BERT_VOCABULARY_SIZE = 30522
"""Tokens of bert-base-uncased (and of the text backbone's embedding: transformers' BertConfig default)."""
WORDS = ("the a an on in of at to with and left right middle top bottom front behind near far person man woman "
         "child dog cat horse car bike bird red blue green white black yellow small large big little moving "
         "walking running riding standing sitting holding wearing shirt square circle box shape object one who "
         "is first second last next other side frame video").split()
"""Whole words of the generated vocabulary: those of the benchmarks' referring expressions and more."""


def generated_bert_vocabulary(words: tuple[str, ...] | list[str] = WORDS) -> list[str]:
    """A BERT-base-uncased-sized vocabulary in BERT's id layout: [PAD] 0, [unused*], [UNK] 100, [CLS] 101, [SEP] 102,
    [MASK] 103, [unused*] up to 998, then the printable ASCII characters from "!" at 999 (so "." is 1012 and "?"
    1029, the ids Grounding DINO's phrase masks look for), the "##" continuation of every letter and digit (any word
    tokenises), ``words`` whole, and filler tokens up to :data:`BERT_VOCABULARY_SIZE`."""
    tokens = ["[PAD]", *(f"[unused{i}]" for i in range(99)), "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    tokens += [f"[unused{i}]" for i in range(99, 99 + 999 - len(tokens))]
    tokens += [chr(code) for code in range(ord("!"), ord("~") + 1)]
    tokens += [f"##{char}" for char in "abcdefghijklmnopqrstuvwxyz0123456789"]
    tokens += [word for word in dict.fromkeys(words) if word not in tokens]
    tokens += [f"[filler{i}]" for i in range(BERT_VOCABULARY_SIZE - len(tokens))]
    return tokens


def bert_tokenizer(folder: Path) -> tuple[Path, str]:
    """Write a BERT-base-uncased tokenizer into ``folder``; returns the folder and where its vocabulary came from."""
    from transformers import BertTokenizer

    from groprompt.prompting.build import load_tokenizer

    try:
        from groprompt.prompting.config import minilm_dir

        tokenizer, source = load_tokenizer(minilm_dir()), "the MiniLM package's (BERT-base-uncased)"
    except ImportError:  # the package is not installed
        vocabulary = {token: index for index, token in enumerate(generated_bert_vocabulary())}
        tokenizer, source = BertTokenizer(vocab=vocabulary, do_lower_case=True), "generated (BERT-base-uncased's ids)"
    tokenizer.save_pretrained(folder)
    return folder, source
