"""ONNX export of the LLM side of speech → text: token embeddings, and the decoder with a KV cache.

Two decoder graphs, because transformers' Llama-family code guards on ``seq == 1`` under torch.export,
so one graph cannot serve both: ``decoder_prefill.onnx`` (the whole prompt, at least 2 positions, no
past) and ``decoder_step.onnx`` (one new position over a past of any length). Both take
``inputs_embeds`` (B, S, H), ``position_ids`` (B, S) and a precomputed additive 4-D mask (B, 1, S, P+S),
so left padding and causality are the caller's, and give the last position's logits (B, V) and the
present keys and values ``present.{i}.key|value`` (B, KV, P+S, D). LoRA is merged into a copy of the
decoder first: the graphs hold the adapted weights, the training model is left as it was. The three
graphs keep their weights in one file, :data:`WEIGHTS_FILE`, each tensor once (see
:mod:`components.export.shared_weights`): the two decoders hold the same weights.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import torch
from torch import nn

from components.export.onnx_export import export_graph
from components.export.shared_weights import share_weights

EMBED_FILE = "embed_tokens.onnx"
PREFILL_FILE = "decoder_prefill.onnx"
STEP_FILE = "decoder_step.onnx"
DECODER_FILES = (EMBED_FILE, PREFILL_FILE, STEP_FILE)
WEIGHTS_FILE = "llm_weights.data"


def merged_decoder(llm: nn.Module) -> nn.Module:
    """An eval-mode copy of the causal LM with LoRA (if any) merged into its weights, eager attention."""
    decoder = copy.deepcopy(llm)
    if hasattr(decoder, "peft_config"):
        decoder = decoder.merge_and_unload()
    decoder.eval()
    decoder.set_attn_implementation("eager")  # sdpa adds shape guards under torch.export
    return decoder


def cache_shape(config: Any) -> tuple[int, int, int]:
    """(layers, key/value heads, head size) of a decoder's KV cache."""
    heads = config.num_attention_heads
    head_dim = getattr(config, "head_dim", None) or config.hidden_size // heads
    return config.num_hidden_layers, getattr(config, "num_key_value_heads", None) or heads, head_dim


def past_names(layers: int, prefix: str) -> list[str]:
    return [f"{prefix}.{i}.{kind}" for i in range(layers) for kind in ("key", "value")]


class DecoderWithCache(nn.Module):
    """The decoder as a function of embeddings, positions, a 4-D mask and a flat past: what ONNX needs."""

    def __init__(self, decoder: nn.Module) -> None:
        super().__init__()
        self.decoder = decoder
        self.layers = cache_shape(decoder.config)[0]

    def forward(
        self,
        inputs_embeds: torch.Tensor,
        position_ids: torch.Tensor,
        mask: torch.Tensor,
        past: tuple[torch.Tensor, ...] = (),
    ) -> tuple[torch.Tensor, ...]:
        from transformers import DynamicCache

        cache = DynamicCache()
        for layer in range(self.layers if past else 0):
            cache.update(past[2 * layer], past[2 * layer + 1], layer)
        out = self.decoder(
            inputs_embeds=inputs_embeds,
            attention_mask=mask,
            position_ids=position_ids,
            past_key_values=cache,
            use_cache=True,
        )
        present = []
        for layer in out.past_key_values.layers:
            present += [layer.keys, layer.values]
        return (out.logits[:, -1, :], *present)


def causal_mask(attention: torch.Tensor, new: int, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """The additive mask (B, 1, new, total) for the last ``new`` of ``total`` positions: 0 where a query
    may attend (a real key at or before it), the dtype's minimum elsewhere (padding, the future)."""
    total = attention.shape[1]
    keys = torch.arange(total)
    queries = torch.arange(total - new, total)
    allowed = (keys[None, :] <= queries[:, None])[None] & attention[:, None, :].bool()
    mask = torch.zeros(allowed.shape, dtype=dtype).masked_fill(~allowed, torch.finfo(dtype).min)
    return mask[:, None]


def export_decoder(llm: nn.Module, out_dir: Path, opset: int) -> dict[str, Path]:
    """Write the embedding table and the prefill and step decoders into ``out_dir``, their weights in
    ``out_dir / WEIGHTS_FILE``; the graphs' paths (``embed``, ``prefill``, ``step``)."""
    from torch.export import Dim

    decoder = merged_decoder(llm)
    layers, kv_heads, head_dim = cache_shape(decoder.config)
    hidden = decoder.config.hidden_size
    out_dir.mkdir(parents=True, exist_ok=True)
    wrapper = DecoderWithCache(decoder)
    batch, seq = Dim("batch", min=1, max=256), Dim("sequence", min=2, max=8192)
    past_len, total = Dim("past", min=1, max=8192), Dim("total", min=2, max=8192)
    outputs = ["logits", *past_names(layers, "present")]

    embed = decoder.get_input_embeddings()
    ids = torch.tensor([[1, 2, 3], [4, 5, 6]])
    paths = {
        "embed": export_graph(
            embed,
            (ids,),
            (["input_ids"], ["embeds"]),
            {"input": {0: batch, 1: seq}},
            out_dir / EMBED_FILE,
            opset,
        )
    }

    generator = torch.Generator().manual_seed(0)
    b, s, p = 2, 5, 7
    prefill_inputs = (
        torch.randn(b, s, hidden, generator=generator),
        torch.arange(s).repeat(b, 1),
        causal_mask(torch.ones(b, s, dtype=torch.long), s),
    )
    prefill_shapes = {
        "inputs_embeds": {0: batch, 1: seq},
        "position_ids": {0: batch, 1: seq},
        "mask": {0: batch, 2: seq, 3: seq},
    }
    paths["prefill"] = export_graph(
        wrapper,
        prefill_inputs,
        (["inputs_embeds", "position_ids", "mask"], outputs),
        prefill_shapes,
        out_dir / PREFILL_FILE,
        opset,
    )

    past = tuple(torch.randn(b, kv_heads, p, head_dim, generator=generator) for _ in range(2 * layers))
    step_inputs = (
        torch.randn(b, 1, hidden, generator=generator),
        torch.full((b, 1), p),
        causal_mask(torch.ones(b, p + 1, dtype=torch.long), 1),
        past,
    )
    step_shapes = {
        "inputs_embeds": {0: batch},
        "position_ids": {0: batch},
        "mask": {0: batch, 3: total},
        "past": tuple({0: batch, 2: past_len} for _ in past),
    }
    paths["step"] = export_graph(
        wrapper,
        step_inputs,
        (["inputs_embeds", "position_ids", "mask", *past_names(layers, "past")], outputs),
        step_shapes,
        out_dir / STEP_FILE,
        opset,
    )
    share_weights([paths["embed"], paths["prefill"], paths["step"]], WEIGHTS_FILE)
    return paths
