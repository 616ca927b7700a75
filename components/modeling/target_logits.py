"""The LLM's logits at exactly the positions that predict a target token.

A spliced batch is mostly prompt, speech and padding; only the target tokens carry a loss. With a
real vocabulary (Qwen2.5: 151,936 tokens) the output projection over every position of a batch costs
about a quarter of the forward pass and, as float32 logits with their log-softmax and gradient,
gigabytes of memory. Projecting only the hidden states that predict a label removes both, and gives
the same logits: the projection acts on each position alone.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

IGNORE_INDEX = -100


def prediction_positions(labels: torch.Tensor) -> torch.Tensor:
    """(B, L) bool: True at each position whose logits predict a label (the next label is set).

    Speech and text prompts have different prefix lengths and paddings; these positions, not
    absolute indices, are what two views of the same target have in common.
    """
    positions = torch.zeros_like(labels, dtype=torch.bool)
    positions[:, :-1] = labels[:, 1:] != IGNORE_INDEX
    return positions


@dataclass(frozen=True)
class TargetLogits:
    """Logits (N, V) at the N positions of a batch that predict a target token, row after row and in
    sequence order within a row; ``labels`` (N,) the token each predicts; ``counts`` (B,) how many of
    the N belong to each row."""

    logits: torch.Tensor
    labels: torch.Tensor
    counts: torch.Tensor

    @classmethod
    def gather(cls, logits: torch.Tensor, labels: torch.Tensor) -> TargetLogits:
        """From full (B, L, V) logits and their (B, L) labels (position t predicts label t + 1)."""
        positions = prediction_positions(labels)
        return cls(logits[positions], labels[:, 1:][positions[:, :-1]], positions.sum(dim=1))

    def rows(self) -> list[torch.Tensor]:
        """Each row's labels, (n_b,)."""
        return list(self.labels.split(self.counts.tolist()))

    def row_ends(self) -> torch.Tensor:
        """(N,) bool: True at each row's last target position."""
        ends = self.counts.cumsum(0) - 1
        mask = torch.zeros(self.labels.shape[0], dtype=torch.bool, device=self.labels.device)
        mask[ends[self.counts > 0]] = True
        return mask


def base_causal_lm(llm: nn.Module) -> nn.Module:
    """The Hugging Face causal LM itself: ``llm``, or the model a peft wrapper (LoRA) holds."""
    return llm.get_base_model() if hasattr(llm, "get_base_model") else llm


def split_head(llm: nn.Module) -> tuple[nn.Module, nn.Module] | None:
    """(decoder, output projection) of a Hugging Face causal LM (or a peft model around one), or None
    where the LM has no such split. The decoder's ``last_hidden_state`` includes the final norm."""
    core = base_causal_lm(llm)
    prefix = getattr(core, "base_model_prefix", "")
    decoder = getattr(core, prefix, None) if prefix else None
    head = core.get_output_embeddings() if hasattr(core, "get_output_embeddings") else None
    if decoder is None or head is None or decoder is core:
        return None
    return decoder, head


def head_split_matches(llm: nn.Module, decoder: nn.Module, head: nn.Module, width: int = 6) -> bool:
    """Whether ``head(decoder(x))`` gives the LM's own logits on a short input, autocast off.

    Some LMs do more after the projection (Gemma 2 caps its logits, Cohere scales them); for them the
    split is not the model and the full forward pass is used instead. Dropout draws the same masks in
    both passes (the RNG is reset before each).
    """
    table = llm.get_input_embeddings()
    device = table.weight.device
    ids = torch.arange(min(width, table.num_embeddings), device=device).unsqueeze(0)
    embeds = table(ids).detach()
    mask = torch.ones_like(ids)
    with (
        torch.no_grad(),
        torch.autocast(device.type, enabled=False),
        torch.random.fork_rng(devices=[device] if device.type == "cuda" else []),
    ):
        torch.manual_seed(0)
        want = llm(inputs_embeds=embeds, attention_mask=mask).logits
        torch.manual_seed(0)
        got = head(decoder(inputs_embeds=embeds, attention_mask=mask).last_hidden_state)
    return got.shape == want.shape and torch.allclose(got, want, rtol=1e-4, atol=1e-5)
