"""The speech-LLM: the one owner of speech embedding, prompt splicing, label masks and generation.

Training, target generation, evaluation, export and the registered model all call this module; none
of them builds prompts or masks on its own. The speech slot of a prompt holds either speech
embeddings (from audio) or the transcript's token embeddings (the text-input teacher and baseline),
so both kinds of input share every other token.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from components.modeling.activation_checkpointing import enable_checkpointing, set_layers_training
from components.modeling.adapter_output import AdapterOutput
from components.modeling.adapter_registry import DERIVED_FIELDS, adapter_from_config, build_adapter
from components.modeling.encoder import SpeechEncoder, encoder_features, length_mask, speech_encoder
from components.modeling.encoder_states import clip_states, collate_states
from components.modeling.layer_mix import LayerWeightedSum
from components.modeling.placement import model_device
from components.modeling.prompted_llm import PromptedLLM
from components.modeling.prompts import BLSP_TEMPLATE
from components.reductions import fixed_order_mean

ADAPTER_CONFIG = "adapter_config.json"
ADAPTER_WEIGHTS = "adapter.safetensors"
LAYER_WEIGHTS = "layer_weights.safetensors"
LORA_DIR = "lora"


def extract_features(feature_extractor: Any, waveform: np.ndarray) -> np.ndarray:
    """Features (C, T) of one clip, unpadded: batches are padded by :func:`collate_features`."""
    return encoder_features(feature_extractor, waveform)


def collate_features(features: Sequence[np.ndarray]) -> tuple[torch.Tensor, torch.Tensor]:
    """Zero-pad clips of shape (n_mels, T_i) to (B, n_mels, T_max) with a (B, T_max) mask."""
    lengths = torch.tensor([f.shape[1] for f in features])
    batch = torch.zeros(len(features), features[0].shape[0], int(lengths.max()))
    for index, feature in enumerate(features):
        batch[index, :, : feature.shape[1]] = torch.from_numpy(feature)
    return batch, length_mask(lengths, batch.shape[-1])


class SpeechPath(nn.Module):
    """Frozen encoder → (layer mix) → adapter: the part exported to ONNX."""

    def __init__(
        self, encoder: SpeechEncoder, adapter: nn.Module, layer_mix: LayerWeightedSum | None = None
    ) -> None:
        super().__init__()
        self.encoder = encoder
        self.adapter = adapter
        self.layer_mix = layer_mix

    def output_lengths(self, input_lengths: torch.Tensor) -> torch.Tensor | None:
        """Speech vectors per clip from its input frames, by the formulas alone (no forward pass);
        None for an adapter whose count is not set by the input (CIF fires per content)."""
        return self.adapter_lengths(self.encoder.output_lengths(input_lengths))

    def adapter_lengths(self, encoder_frames: torch.Tensor) -> torch.Tensor | None:
        """Speech vectors per clip from its encoder frames (T'); None where the adapter decides (CIF)."""
        adapter_lengths = getattr(self.adapter, "output_lengths", None)
        return None if adapter_lengths is None else adapter_lengths(encoder_frames)

    @property
    def every_layer(self) -> bool:
        """Whether the adapter reads every encoder layer (through the layer mix) or only the last."""
        return self.layer_mix is not None

    def encode(
        self, features: torch.Tensor, feature_mask: torch.Tensor, target_lengths: torch.Tensor | None = None
    ) -> AdapterOutput:
        """Speech embeddings, their mask and (CIF) the frame weights; ``target_lengths`` scales CIF."""
        if self.layer_mix is None:
            hidden, mask = self.encoder(features, feature_mask)  # (B, T', D_enc)
        else:
            hidden, mask = self.encoder.forward_layers(features, feature_mask)  # (L, B, T', D_enc)
        return self.adapt(hidden, mask, target_lengths)

    def adapt(
        self, states: torch.Tensor, mask: torch.Tensor, target_lengths: torch.Tensor | None = None
    ) -> AdapterOutput:
        """The trainable part alone, on encoder states already computed: (B, T', D_enc), or
        (L, B, T', D_enc) when the layer mix reads every layer, with the (B, T') mask."""
        hidden = states if self.layer_mix is None else self.layer_mix(states)
        return self.adapter(hidden, mask, target_lengths)

    def forward(
        self, features: torch.Tensor, feature_mask: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        out = self.encode(features, feature_mask)
        return out.embeds, out.mask  # (B, S, D_llm), (B, S)


@dataclass(frozen=True)
class AdapterSpec:
    """What a fresh adapter is: its kind, whether it mixes encoder layers, and its own options."""

    kind: str = "conv_glu"
    layer_weighted: bool = False
    options: dict[str, Any] | None = None

    @classmethod
    def from_params(cls, params: Any | None) -> AdapterSpec:
        if params is None:
            return cls()
        return cls(params.kind, params.layer_weighted, params.options())


def initial_trainables(
    spec: AdapterSpec, sizes: dict[str, Any], num_layers: int, seed: int
) -> tuple[nn.Module, LayerWeightedSum | None]:
    """A freshly initialised adapter (and layer mix); the same spec and seed give the same weights."""
    torch.manual_seed(seed)
    adapter = build_adapter(spec.kind, sizes, spec.options or {})
    return adapter, LayerWeightedSum(num_layers) if spec.layer_weighted else None


def add_lora(llm: nn.Module, lora: Any, seed: int) -> nn.Module:
    """Wrap the LLM with peft LoRA on ``lora.target_modules``; only the LoRA weights are trainable."""
    from peft import LoraConfig, get_peft_model

    torch.manual_seed(seed)
    config = LoraConfig(
        r=lora.r,
        lora_alpha=lora.alpha,
        lora_dropout=lora.dropout,
        target_modules=list(lora.target_modules),
        bias="none",
        task_type="CAUSAL_LM",
    )
    return get_peft_model(llm, config)


class SpeechLLM(PromptedLLM):
    """Frozen encoder + trainable adapter (+ layer mix, + LoRA) + frozen LLM, one prompt splice for all."""

    def __init__(
        self,
        speech: SpeechPath,
        llm: nn.Module,
        tokenizer: Any,
        feature_extractor: Any,
        sources: dict[str, str],
        template: str = BLSP_TEMPLATE,
        spec: AdapterSpec = AdapterSpec(),
        seed: int = 0,
        system_prompt: str | None = None,
    ) -> None:
        super().__init__(llm, tokenizer, template, system_prompt)
        self.speech = speech
        self.feature_extractor = feature_extractor
        self.sources = dict(sources)
        self.spec = spec
        self.seed = seed
        self.lora_active = True
        self.checkpointed_layers: list[nn.Module] = []  # LLM layers recomputed in the backward pass
        self.speech.encoder.requires_grad_(False)
        if not self.has_lora:
            self.llm.requires_grad_(False)
        self.train(False)

    # -- construction ---------------------------------------------------------------------------

    @classmethod
    def from_base(
        cls,
        encoder_source: str,
        llm_source: str,
        adapter: Any | None = None,
        lora: Any | None = None,
        seed: int = 0,
        template: str = BLSP_TEMPLATE,
        languages: Sequence[str] = (),
        system_prompt: str | None = None,
    ) -> SpeechLLM:
        """A fresh adapter (``adapter``: AdapterParams, default conv_glu) between base models;
        ``template`` lays out the prompt when the LLM has no chat template; ``languages`` are the
        training corpus's, the classes of an adapter with a language-ID head."""
        from components.modeling.base_models import load_encoder, load_llm

        encoder_model, extractor = load_encoder(encoder_source)
        llm, tokenizer = load_llm(llm_source)
        encoder = speech_encoder(encoder_model)
        spec = AdapterSpec.from_params(adapter)
        sizes = {**adapter_sizes(encoder, llm), "lid_languages": tuple(sorted(set(languages)))}
        trainables = initial_trainables(spec, sizes, encoder.num_layers, seed)
        if lora is not None:
            llm = add_lora(llm, lora, seed)
        sources = {"encoder": encoder_source, "llm": llm_source}
        speech = SpeechPath(encoder, *trainables)
        return cls(
            speech,
            llm,
            tokenizer,
            extractor,
            sources,
            template,
            spec=spec,
            seed=seed,
            system_prompt=system_prompt,
        )

    @property
    def has_lora(self) -> bool:
        return hasattr(self.llm, "peft_config")

    def save_pretrained(self, out_dir: str | Path) -> None:
        """Write only what was trained (adapter, layer weights, LoRA in peft's format) and the sources."""
        from safetensors.torch import save_file

        out_dir = Path(out_dir)
        out_dir.mkdir(parents=True, exist_ok=True)

        def tensors(module: nn.Module) -> dict[str, torch.Tensor]:
            return {k: v.detach().cpu().contiguous() for k, v in module.state_dict().items()}

        save_file(tensors(self.speech.adapter), out_dir / ADAPTER_WEIGHTS, metadata={"format": "pt"})
        if self.speech.layer_mix is not None:
            save_file(tensors(self.speech.layer_mix), out_dir / LAYER_WEIGHTS, metadata={"format": "pt"})
        if self.has_lora:
            self.llm.save_pretrained(out_dir / LORA_DIR)
        config = {
            "adapter_type": self.spec.kind,
            "adapter": self.speech.adapter.config.to_dict(),
            "layer_weighted": self.speech.layer_mix is not None,
            "lora": self.has_lora,
            "seed": self.seed,
            "base_models": self.sources,
            "template": self.template,
            "system_prompt": self.system_prompt,
            "prompt": self.prompt_record(),
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
        encoder_model, extractor = load_encoder(sources["encoder"])
        llm, tokenizer = load_llm(sources["llm"])
        encoder = speech_encoder(encoder_model)
        kind = config.get("adapter_type", "conv_glu")
        adapter = adapter_from_config(kind, config["adapter"])
        adapter.load_state_dict(load_file(adapter_dir / ADAPTER_WEIGHTS))
        layer_mix = None
        if config.get("layer_weighted"):
            layer_mix = LayerWeightedSum(encoder.num_layers)
            layer_mix.load_state_dict(load_file(adapter_dir / LAYER_WEIGHTS))
        if config.get("lora"):
            from peft import PeftModel

            llm = PeftModel.from_pretrained(llm, adapter_dir / LORA_DIR)
        options = {k: v for k, v in config["adapter"].items() if k not in DERIVED_FIELDS}
        spec = AdapterSpec(kind, layer_mix is not None, options)
        speech = SpeechPath(encoder, adapter, layer_mix)
        return cls(
            speech,
            llm,
            tokenizer,
            extractor,
            sources,
            config["template"],
            spec,
            config.get("seed", 0),
            config.get("system_prompt"),
        )

    def untrained(self, seed: int | None = None) -> SpeechLLM:
        """The trainables as initialised (LoRA off): the control that shows what training added."""
        seed = self.seed if seed is None else seed
        config = self.speech.adapter.config
        sizes = {name: getattr(config, name) for name in DERIVED_FIELDS if hasattr(config, name)}
        trainables = initial_trainables(self.spec, sizes, self.speech.encoder.num_layers, seed)
        control = SpeechLLM(
            SpeechPath(self.speech.encoder, *trainables),
            self.llm,
            self.tokenizer,
            self.feature_extractor,
            self.sources,
            self.template,
            self.spec,
            seed,
            self.system_prompt,
        )
        control.lora_active = False
        return control

    # -- frozen modules stay in eval mode ---------------------------------------------------------

    def train(self, mode: bool = True) -> SpeechLLM:
        """Only the trainables follow ``mode``: the frozen encoder and LLM always run in eval mode, and
        LoRA's own dropout (part of the trainables, inside the LLM) follows ``mode``."""
        super().train(mode)
        self.speech.encoder.eval()
        self.llm.eval()
        if self.has_lora:
            from peft.tuners.lora import LoraLayer

            for module in self.llm.modules():
                if isinstance(module, LoraLayer):
                    module.lora_dropout.train(mode)
        set_layers_training(self.checkpointed_layers, mode)
        return self

    def checkpoint_llm_layers(self) -> None:
        """Recompute the LLM's decoder-layer activations in the backward pass instead of keeping them
        (gradient checkpointing; see :mod:`activation_checkpointing`): while training, activation memory
        falls to about one layer's, for about one more LLM forward pass per step. The LLM stays in eval
        mode; the gradients are the same.

        Raises:
            ValueError: the LLM's architecture does not support it.
        """
        self.checkpointed_layers = enable_checkpointing(self.llm)
        set_layers_training(self.checkpointed_layers, self.training)

    @contextlib.contextmanager
    def frozen_llm(self) -> Iterator[None]:
        """LLM calls inside run the LLM as it was frozen, LoRA off: the KL teacher is the text LLM whose
        behaviour the speech input should reproduce, not the LLM being adapted."""
        active, self.lora_active = self.lora_active, False
        try:
            yield
        finally:
            self.lora_active = active

    @contextlib.contextmanager
    def llm_scope(self) -> Iterator[None]:
        """LoRA switched off for the untrained control and the KL teacher, which share the LLM with the
        trained model. peft turns every LoRA weight trainable again when it re-enables the adapter, so
        their ``requires_grad`` is put back: a phase that does not train LoRA gives it no gradient."""
        if self.has_lora and not self.lora_active:
            lora = self.parameter_groups()["lora"]
            trainable = [p.requires_grad for p in lora]
            try:
                with self.llm.disable_adapter():
                    yield
            finally:
                for parameter, flag in zip(lora, trainable, strict=True):
                    parameter.requires_grad_(flag)
        else:
            yield

    def parameter_groups(self) -> dict[str, list[nn.Parameter]]:
        """Trainable parameters by group: what a training phase may put in its optimiser."""
        layers = list(self.speech.layer_mix.parameters()) if self.speech.layer_mix is not None else []
        lora = [p for n, p in self.llm.named_parameters() if "lora_" in n] if self.has_lora else []
        return {"adapter": list(self.speech.adapter.parameters()), "layers": layers, "lora": lora}

    def trainable_parameters(self) -> list[nn.Parameter]:
        return [p for p in self.parameters() if p.requires_grad]

    # -- embedding ----------------------------------------------------------------------------------

    @property
    def max_input_seconds(self) -> float:
        """The longest clip the encoder reads: Whisper's positional table, a set bound for wav2vec2."""
        spec = self.speech.encoder.input_spec()
        return spec.max_frames / spec.frames_per_second

    @property
    def min_input_seconds(self) -> float:
        """The shortest clip the encoder reads (its fewest input frames), in seconds."""
        spec = self.speech.encoder.input_spec()
        return spec.min_frames / spec.frames_per_second

    def features(self, waveforms: Sequence[np.ndarray]) -> tuple[torch.Tensor, torch.Tensor]:
        return collate_features([extract_features(self.feature_extractor, w) for w in waveforms])

    def speech_slots(self, features: torch.Tensor, feature_mask: torch.Tensor) -> list[torch.Tensor]:
        """Speech embeddings per clip, trimmed to its true length: a list of (S_i, H)."""
        return trim(self.speech.encode(features, feature_mask))

    def clip_states(self, features: np.ndarray) -> np.ndarray:
        """One clip's frozen-encoder states (T', D) or, for a layer mix, (L, T', D)."""
        return clip_states(self.speech.encoder, features, self.speech.every_layer)

    def state_slots(self, states: Sequence[np.ndarray]) -> list[torch.Tensor]:
        """Speech embeddings per clip from encoder states computed before: a list of (S_i, H)."""
        device = model_device(self)
        return trim(self.speech.adapt(*(t.to(device) for t in collate_states(states))))


def trim(out: AdapterOutput) -> list[torch.Tensor]:
    """Per-clip embeddings without their padding."""
    return [out.embeds[i, : int(out.mask[i].sum())] for i in range(out.embeds.shape[0])]


def adapter_sizes(encoder: nn.Module, llm: nn.Module) -> dict[str, Any]:
    """The adapter's derived sizes: encoder width in, LLM width out, LLM embedding RMS as output gain."""
    table = llm.get_input_embeddings().weight.detach()
    return {
        "input_size": encoder.hidden_size,
        "output_size": table.shape[1],
        "output_scale": float(fixed_order_mean(table.pow(2)).sqrt()),  # thread-count-free
    }
