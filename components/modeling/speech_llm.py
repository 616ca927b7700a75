"""The speech-LLM: the one owner of speech embedding, prompt splicing, label masks and generation.

Training, target generation, evaluation, export and the registered model all call this module; none
of them builds prompts or masks on its own. The speech slot of a prompt holds either speech
embeddings (from audio) or the transcript's token embeddings (the text-input teacher and baseline),
so both kinds of input share every other token.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from components.modeling.adapters import BlspAdapter, BlspAdapterConfig
from components.modeling.encoder import SpeechEncoder, length_mask
from components.modeling.prompts import BLSP_TEMPLATE, prompt_ids, target_ids, text_ids

IGNORE_INDEX = -100
ADAPTER_CONFIG = "adapter_config.json"
ADAPTER_WEIGHTS = "adapter.safetensors"


@dataclass
class SplicedBatch:
    """LLM inputs for a batch: embeddings (B, L, H), attention mask (B, L), labels (B, L) or None."""

    inputs_embeds: torch.Tensor
    attention_mask: torch.Tensor
    labels: torch.Tensor | None


def extract_features(feature_extractor: Any, waveform: np.ndarray) -> np.ndarray:
    """Log-mel features (n_mels, T) of one clip, unpadded: batches are padded by :func:`collate_features`."""
    out = feature_extractor(
        waveform,
        sampling_rate=feature_extractor.sampling_rate,
        padding="longest",
        return_attention_mask=False,
        return_tensors="np",
    )
    frames = max(1, len(waveform) // feature_extractor.hop_length)
    return out["input_features"][0][:, :frames].astype(np.float32)


def collate_features(features: Sequence[np.ndarray]) -> tuple[torch.Tensor, torch.Tensor]:
    """Zero-pad clips of shape (n_mels, T_i) to (B, n_mels, T_max) with a (B, T_max) mask."""
    lengths = torch.tensor([f.shape[1] for f in features])
    batch = torch.zeros(len(features), features[0].shape[0], int(lengths.max()))
    for index, feature in enumerate(features):
        batch[index, :, : feature.shape[1]] = torch.from_numpy(feature)
    return batch, length_mask(lengths, batch.shape[-1])


class SpeechPath(nn.Module):
    """Frozen encoder → adapter: the part exported to ONNX. Features + mask → speech embeddings + mask."""

    def __init__(self, encoder: SpeechEncoder, adapter: BlspAdapter) -> None:
        super().__init__()
        self.encoder = encoder
        self.adapter = adapter

    def forward(
        self, features: torch.Tensor, feature_mask: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        hidden, mask = self.encoder(features, feature_mask)  # (B, T', D_enc)
        return self.adapter(hidden, mask)  # (B, S, D_llm), (B, S)


def initial_adapter(config: BlspAdapterConfig, seed: int) -> BlspAdapter:
    """A freshly initialised adapter; the same config and seed give the same weights."""
    torch.manual_seed(seed)
    return BlspAdapter(config)


class PromptedLLM(nn.Module):
    """An LLM with the project's one prompt splice: ``[prefix][slot][suffix][target]``.

    Teaching the demo LLM its text skills and training the adapter both go through this splice, so
    the LLM learns text tasks in exactly the prompts it later receives speech in.
    """

    def __init__(self, llm: nn.Module, tokenizer: Any, template: str = BLSP_TEMPLATE) -> None:
        super().__init__()
        self.llm = llm
        self.tokenizer = tokenizer
        self.template = template

    def text_slots(self, texts: Sequence[str]) -> list[torch.Tensor]:
        """Token embeddings of transcripts, placed where speech would go."""
        table = self.llm.get_input_embeddings()
        return [table(torch.tensor(text_ids(self.tokenizer, t), dtype=torch.long)) for t in texts]

    # -- the prompt splice ------------------------------------------------------------------------

    def splice(
        self,
        instructions: Sequence[str],
        slots: Sequence[torch.Tensor],
        targets: Sequence[str] | None = None,
        padding_side: str = "right",
    ) -> SplicedBatch:
        """Build ``[prefix][slot][suffix][target]`` per example, pad, and label only target tokens."""
        table = self.llm.get_input_embeddings()
        rows, labels = [], []
        for index, (instruction, slot) in enumerate(zip(instructions, slots, strict=True)):
            ids = prompt_ids(self.tokenizer, instruction, self.template)
            target = target_ids(self.tokenizer, targets[index]) if targets is not None else []
            prefix = table(torch.tensor(ids.prefix, dtype=torch.long))
            suffix = table(torch.tensor(ids.suffix + target, dtype=torch.long))
            rows.append(torch.cat([prefix, slot.to(prefix.dtype), suffix]))
            context = len(ids.prefix) + slot.shape[0] + len(ids.suffix)
            labels.append([IGNORE_INDEX] * context + target)
        width = max(row.shape[0] for row in rows)
        hidden = rows[0].shape[1]
        embeds = rows[0].new_zeros(len(rows), width, hidden)
        attention = torch.zeros(len(rows), width, dtype=torch.long)
        label_tensor = torch.full((len(rows), width), IGNORE_INDEX, dtype=torch.long)
        for index, row in enumerate(rows):
            n = row.shape[0]
            span = slice(0, n) if padding_side == "right" else slice(width - n, width)
            embeds[index, span] = row
            attention[index, span] = 1
            label_tensor[index, span] = torch.tensor(labels[index], dtype=torch.long)
        return SplicedBatch(embeds, attention, label_tensor if targets is not None else None)

    # -- training and generation ----------------------------------------------------------------

    def loss(
        self, instructions: Sequence[str], slots: Sequence[torch.Tensor], targets: Sequence[str]
    ) -> torch.Tensor:
        """Mean cross-entropy over target tokens only (prompt, speech and padding are ignored)."""
        batch = self.splice(instructions, slots, targets, padding_side="right")
        out = self.llm(
            inputs_embeds=batch.inputs_embeds, attention_mask=batch.attention_mask, labels=batch.labels
        )
        return out.loss

    @torch.no_grad()
    def generate(
        self, instructions: Sequence[str], slots: Sequence[torch.Tensor], max_new_tokens: int
    ) -> list[str]:
        """Greedy decoding of a left-padded batch; returns the generated text of each example."""
        batch = self.splice(instructions, slots, padding_side="left")
        out = self.llm.generate(
            inputs_embeds=batch.inputs_embeds,
            attention_mask=batch.attention_mask,
            max_new_tokens=max_new_tokens,
            do_sample=False,
            num_beams=1,
            pad_token_id=self.tokenizer.pad_token_id,
            eos_token_id=self.tokenizer.eos_token_id,
        )
        return [self.tokenizer.decode(row, skip_special_tokens=True).strip() for row in out]


class SpeechLLM(PromptedLLM):
    """Frozen encoder + trainable adapter + frozen LLM, with one prompt splice for every use."""

    def __init__(
        self,
        encoder: SpeechEncoder,
        adapter: BlspAdapter,
        llm: nn.Module,
        tokenizer: Any,
        feature_extractor: Any,
        sources: dict[str, str],
        template: str = BLSP_TEMPLATE,
    ) -> None:
        super().__init__(llm, tokenizer, template)
        self.speech = SpeechPath(encoder, adapter)
        self.feature_extractor = feature_extractor
        self.sources = dict(sources)
        for module in (self.speech.encoder, self.llm):
            module.requires_grad_(False)
        self.train(False)

    # -- construction ---------------------------------------------------------------------------

    @classmethod
    def from_base(
        cls, encoder_source: str, llm_source: str, adapter_kwargs: dict[str, Any] | None = None, seed: int = 0
    ) -> SpeechLLM:
        """A fresh adapter between base models loaded by id or path."""
        from components.modeling.base_models import load_encoder, load_llm

        whisper, extractor = load_encoder(encoder_source)
        llm, tokenizer = load_llm(llm_source)
        encoder = SpeechEncoder(whisper)
        embed_rms = float(llm.get_input_embeddings().weight.detach().pow(2).mean().sqrt())
        config = BlspAdapterConfig(
            input_size=encoder.hidden_size,
            output_size=llm.get_input_embeddings().embedding_dim,
            output_scale=embed_rms,
            **(adapter_kwargs or {}),
        )
        return cls(
            encoder,
            initial_adapter(config, seed),
            llm,
            tokenizer,
            extractor,
            {"encoder": encoder_source, "llm": llm_source},
        )

    def save_pretrained(self, out_dir: str | Path) -> None:
        """Write only the trainable adapter (safetensors) and what is needed to rebuild the rest."""
        from safetensors.torch import save_file

        out_dir = Path(out_dir)
        out_dir.mkdir(parents=True, exist_ok=True)
        state = {k: v.detach().contiguous() for k, v in self.speech.adapter.state_dict().items()}
        save_file(state, out_dir / ADAPTER_WEIGHTS, metadata={"format": "pt"})
        config = {
            "adapter_type": "blsp",
            "adapter": self.speech.adapter.config.to_dict(),
            "base_models": self.sources,
            "template": self.template,
        }
        (out_dir / ADAPTER_CONFIG).write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8")

    @classmethod
    def from_pretrained(
        cls, adapter_dir: str | Path, base_overrides: dict[str, str] | None = None
    ) -> SpeechLLM:
        """Rebuild from an adapter directory; ``base_overrides`` points the base models elsewhere."""
        from safetensors.torch import load_file

        from components.modeling.base_models import load_encoder, load_llm

        adapter_dir = Path(adapter_dir)
        config = json.loads((adapter_dir / ADAPTER_CONFIG).read_text(encoding="utf-8"))
        sources = {**config["base_models"], **(base_overrides or {})}
        whisper, extractor = load_encoder(sources["encoder"])
        llm, tokenizer = load_llm(sources["llm"])
        adapter = BlspAdapter(BlspAdapterConfig(**config["adapter"]))
        adapter.load_state_dict(load_file(adapter_dir / ADAPTER_WEIGHTS))
        return cls(SpeechEncoder(whisper), adapter, llm, tokenizer, extractor, sources, config["template"])

    def with_adapter(self, adapter: BlspAdapter) -> SpeechLLM:
        """The same frozen encoder and LLM (shared, not copied) behind another adapter."""
        return SpeechLLM(
            self.speech.encoder,
            adapter,
            self.llm,
            self.tokenizer,
            self.feature_extractor,
            self.sources,
            self.template,
        )

    def untrained(self, seed: int) -> SpeechLLM:
        """This model's adapter as it was before training: the control that shows what training added."""
        return self.with_adapter(initial_adapter(self.speech.adapter.config, seed))

    # -- frozen modules stay in eval mode ---------------------------------------------------------

    def train(self, mode: bool = True) -> SpeechLLM:
        """Only the adapter follows ``mode``: the frozen encoder and LLM always run in eval mode."""
        super().train(mode)
        self.speech.encoder.eval()
        self.llm.eval()
        return self

    def trainable_parameters(self) -> list[nn.Parameter]:
        return [p for p in self.parameters() if p.requires_grad]

    # -- embedding ----------------------------------------------------------------------------------

    def features(self, waveforms: Sequence[np.ndarray]) -> tuple[torch.Tensor, torch.Tensor]:
        return collate_features([extract_features(self.feature_extractor, w) for w in waveforms])

    def speech_slots(self, features: torch.Tensor, feature_mask: torch.Tensor) -> list[torch.Tensor]:
        """Speech embeddings per clip, trimmed to its true length: a list of (S_i, H)."""
        embeds, mask = self.speech(features, feature_mask)
        return [embeds[i, : int(mask[i].sum())] for i in range(embeds.shape[0])]
