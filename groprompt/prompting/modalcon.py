"""The ModalCon head (docs/method_spec.md §4, paper §3.2.2 "Modality-Contrastive Prompt Learning").

It turns a clip's prompt embeddings p^i_t and SAM image embeddings f_t into one video-level feature f^i in the
text backbone's space, which :func:`groprompt.losses.modality_contrastive_loss` pulls towards the sentence feature
z^i and away from z^j. Trainable, used only in training, counted in Table 5.

Choices the paper leaves open:

* Both projections are 2-layer MLPs (Linear, ReLU, Linear), hidden width D: the paper says "MLP", and one linear
  layer would not be one.
* The cross-attention is a standard single-head attention (query, key, value and output projections, D wide);
  its output is used as it is (no residual, no norm), since the paper pools the attention output directly.
* The temporal mean runs over all T frames of the clip, as §4 and the paper's "average pooling" say: p^i_t comes
  from the *predicted* box, which exists on every frame, including frames where the referred object is absent
  (a sentence describing motion is about the whole clip, and a prompt on the wrong object there should be
  penalised too).

Size at full scale (prompt_dim 512 = 2 x 256 SAM tokens, visual_dim 256, text_dim 768 for BERT-base):
visual MLP 256*768+768 + 768*768+768 = 787,968; query MLP 512*768+768 + 768*768+768 = 984,576; attention
4*768*768 + 4*768 = 2,362,368; total 4,134,912 (~4.1M). docs/stack_notes.md guessed ~3M, which is what single linear
projections would give (2,953,728); decoder and box heads (11.2M) plus this head is still the paper's "~15M".
"""

from __future__ import annotations

from torch import Tensor, nn

from groprompt.errors import GroPromptError


def _mlp(in_dim: int, out_dim: int) -> nn.Sequential:
    return nn.Sequential(nn.Linear(in_dim, out_dim), nn.ReLU(), nn.Linear(out_dim, out_dim))


class ModalConHead(nn.Module):
    """Prompt-queried cross-attention over each frame's visual tokens, averaged over the clip (§4).

    Args:
        prompt_dim: width of a prompt embedding p^i_t (2 x SAM's prompt embed_dim: the two corner tokens).
        visual_dim: channels C of SAM's image embedding.
        text_dim: D, the text backbone's hidden size (768 BERT-base, 384 MiniLM); the output width.
    """

    def __init__(self, prompt_dim: int, visual_dim: int, text_dim: int) -> None:
        super().__init__()
        for name, value in (("prompt_dim", prompt_dim), ("visual_dim", visual_dim), ("text_dim", text_dim)):
            if value <= 0:
                raise GroPromptError(f"ModalCon {name} must be positive, got {value}",
                                     fix="set it from the SAM and text-backbone sizes of the config")
        self.prompt_dim = prompt_dim
        self.visual_dim = visual_dim
        self.text_dim = text_dim
        self.visual_proj = _mlp(visual_dim, text_dim)
        self.query_proj = _mlp(prompt_dim, text_dim)
        self.attention = nn.MultiheadAttention(text_dim, num_heads=1, batch_first=True)

    def forward(self, visual_tokens: Tensor, prompt_embeddings: Tensor) -> Tensor:
        """The video-level feature f^i.

        Args:
            visual_tokens: ``(B, T, C, h, w)`` float, SAM image embeddings of the clip's frames (256 x 64 x 64 at
                full size). Detached here: SAM's image encoder is frozen and never gets a gradient.
            prompt_embeddings: ``(B, T, prompt_dim)`` float, p^i_t of the predicted boxes; gradient flows back
                through it to the prompter.

        Returns:
            ``(B, text_dim)`` f^i: frame t's query attends to frame t's ``h * w`` tokens only, then the mean over T.
        """
        if visual_tokens.ndim != 5 or visual_tokens.shape[2] != self.visual_dim:
            raise GroPromptError(f"visual tokens have shape {tuple(visual_tokens.shape)}, expected "
                                 f"(B, T, {self.visual_dim}, h, w)",
                                 fix="pass SAM image embeddings of a SAM whose width matches the ModalCon head")
        batch, frames = visual_tokens.shape[:2]
        if tuple(prompt_embeddings.shape) != (batch, frames, self.prompt_dim):
            raise GroPromptError(f"prompt embeddings have shape {tuple(prompt_embeddings.shape)}, expected "
                                 f"({batch}, {frames}, {self.prompt_dim})",
                                 fix="pass the flattened corner tokens of SAM's prompt encoder, one per frame")
        tokens = visual_tokens.detach().flatten(3).transpose(2, 3).flatten(0, 1)  # (B*T, h*w, C)
        keys = self.visual_proj(tokens)
        query = self.query_proj(prompt_embeddings.reshape(batch * frames, 1, self.prompt_dim))
        attended, _ = self.attention(query, keys, keys, need_weights=False)
        return attended.reshape(batch, frames, self.text_dim).mean(dim=1)
