"""BLOOMZMMS-style adapter: a small trainable Transformer encoder between the frozen encoder and the LLM.

Attention lets the adapter re-contextualise frames before they are halved twice (subsampling conv,
then the length adaptor), which plain convolutions cannot do across a whole utterance.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import ClassVar

import torch
from torch import nn

from components.modeling.adapter_output import AdapterOutput, masked_input, masked_output, with_gain
from components.modeling.conv_layers import ConvSubsampler, masked_conv
from components.modeling.encoder import key_padding_bias, length_mask
from components.modeling.reproducible_norms import LayerNorm


@dataclass(frozen=True)
class EncoderBlocksConfig:
    """Shapes of the Transformer adapter; ``ffn_dim`` None means 4·d_model."""

    input_size: int
    output_size: int
    d_model: int = 1024
    layers: int = 2
    heads: int = 16
    ffn_dim: int | None = None
    subsample_kernel: int = 3
    dropout: float = 0.0
    output_scale: float = 1.0  # LayerNorm gain at init: the LLM's token-embedding RMS
    # Intermediate CTC over language ids after block ``lid_block`` (1-based), whose posteriors are fed
    # back into the stream (self-conditioning); None: no such head. The classes are the training
    # corpus's languages, filled in when the adapter is built for training, never from params.
    lid_block: int | None = None
    lid_languages: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "lid_languages", tuple(self.lid_languages))  # a JSON list when reloaded
        if self.lid_block is not None:
            if not 1 <= self.lid_block < self.layers:
                raise ValueError(f"lid_block: {self.lid_block} must lie in [1, layers) = [1, {self.layers})")
            if not self.lid_languages:
                raise ValueError(
                    "lid_block: the adapter needs its languages (lid_languages) to build the head"
                )

    def to_dict(self) -> dict:
        return {**asdict(self), "lid_languages": list(self.lid_languages)}


def length_adaptor_lengths(lengths: torch.Tensor) -> torch.Tensor:
    """ceil(L / 2): odd lengths get one zero frame so their last frame is kept, not dropped."""
    return torch.div(lengths + 1, 2, rounding_mode="floor")


class TransformerBlock(nn.Module):
    """Pre-norm self-attention + GELU feed-forward, with attention written out in plain tensor ops.

    ``nn.TransformerEncoderLayer`` takes fused paths that ``torch.export`` specialises to batch > 1,
    so an ONNX export with a dynamic batch would refuse single clips; this block computes the same.
    """

    def __init__(self, d_model: int, heads: int, ffn_dim: int, dropout: float) -> None:
        super().__init__()
        if d_model % heads:
            raise ValueError(f"d_model ({d_model}) must be a multiple of heads ({heads})")
        self.heads = heads
        self.attention_norm = LayerNorm(d_model)
        self.qkv = nn.Linear(d_model, 3 * d_model)
        self.out = nn.Linear(d_model, d_model)
        self.ffn_norm = LayerNorm(d_model)
        self.ffn = nn.Sequential(nn.Linear(d_model, ffn_dim), nn.GELU(), nn.Linear(ffn_dim, d_model))
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
        """x (B, T, D); bias (B, 1, 1, T) additive, blocking padded keys."""
        batch, frames, width = x.shape
        q, k, v = self.qkv(self.attention_norm(x)).chunk(3, dim=-1)

        def heads(t: torch.Tensor) -> torch.Tensor:
            return t.reshape(batch, frames, self.heads, width // self.heads).transpose(1, 2)

        scores = heads(q) @ heads(k).transpose(-1, -2) / math.sqrt(width // self.heads) + bias
        attended = (self.dropout(scores.softmax(dim=-1)) @ heads(v)).transpose(1, 2).reshape(x.shape)
        x = x + self.dropout(self.out(attended))
        return x + self.dropout(self.ffn(self.ffn_norm(x)))


class EncoderBlocksAdapter(nn.Module):
    """Linear(→ d_model) → Conv1d(s2)+GELU → N pre-norm Transformer blocks → Conv1d(k2, s2)+ReLU →
    Linear(→ D_llm) → LayerNorm(gain output_scale).

    With ``lid_block`` set, a language-ID head after that block gives the intermediate-CTC logits,
    and their softmax, projected back to d_model, is added to the stream: the later blocks see the
    language the earlier ones heard (BLOOMZMMS's self-conditioned intermediate CTC).
    """

    kind: ClassVar[str] = "encoder_blocks"

    def __init__(self, config: EncoderBlocksConfig) -> None:
        super().__init__()
        self.config = config
        d_model = config.d_model
        self.pre = nn.Linear(config.input_size, d_model)
        self.subsample = ConvSubsampler(d_model, d_model, 1, config.subsample_kernel, 2)
        self.blocks = nn.ModuleList(
            TransformerBlock(d_model, config.heads, config.ffn_dim or 4 * d_model, config.dropout)
            for _ in range(config.layers)
        )
        if config.lid_block is not None:
            classes = 1 + len(config.lid_languages)  # class 0 is CTC's blank
            self.lid_head = nn.Linear(d_model, classes)
            self.lid_condition = nn.Linear(classes, d_model)
        self.length_adaptor = nn.Conv1d(d_model, d_model, kernel_size=2, stride=2)
        self.proj = nn.Linear(d_model, config.output_size)
        self.norm = with_gain(LayerNorm(config.output_size), config.output_scale)

    def output_lengths(self, lengths: torch.Tensor) -> torch.Tensor:
        return length_adaptor_lengths(self.subsample.output_lengths(lengths))

    def forward(
        self, hidden: torch.Tensor, mask: torch.Tensor, target_lengths: torch.Tensor | None = None
    ) -> AdapterOutput:
        """hidden (B, T, D_enc), mask (B, T) → (B, S, D_llm); ``target_lengths`` is ignored."""
        x, lengths = masked_input(self.pre(hidden), mask)  # per-frame Linear, then clear its padding
        x, lengths = self.subsample(x, lengths)
        mask = length_mask(lengths, x.shape[1])
        bias = key_padding_bias(mask, x.dtype)
        lid_logits = None
        for number, block in enumerate(self.blocks, start=1):
            x = block(x, bias)
            if number == self.config.lid_block:
                lid_logits = self.lid_head(x)
                x = x + self.lid_condition(lid_logits.softmax(dim=-1))  # self-conditioning
        x = x.masked_fill(mask[..., None] == 0, 0.0).transpose(1, 2)
        x = nn.functional.pad(x, (0, x.shape[-1] % 2))  # even frame count: see length_adaptor_lengths
        # an odd clip's zero frame counts as input, so the conv's own rule gives ceil(L / 2)
        x, lengths = masked_conv(self.length_adaptor, x, lengths + lengths % 2, nn.functional.relu)
        out = masked_output(self.norm(self.proj(x.transpose(1, 2))), lengths)
        return out if lid_logits is None else out._replace(lid_logits=lid_logits, lid_mask=mask)
