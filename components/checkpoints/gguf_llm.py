"""A GGUF LLM file (llama.cpp's format) → an HF causal-LM directory that loads offline.

transformers reads a GGUF itself (``from_pretrained(DIR, gguf_file=NAME)``), dequantising it into an
ordinary model and rebuilding the tokenizer, chat template included, from the file's metadata. What it
cannot do is save that model: it carries the GGUF quantizer. So the weights are moved into a fresh model
built from the same config, less its ``quantization_config``, and that one is saved.

Saved precision follows the source's precision class:

- any quantised tensor (Q4_1, Q8_0, K-quants…) → bfloat16: transformers dequantises to float32, and the
  quantisation error is far above bfloat16's rounding, so float32 would only double the size;
- BF16 tensors → bfloat16; F16 tensors (no BF16) → float16; only F32 tensors → float32 (the F32 norms
  that half-precision files keep do not make the file F32).

Every parameter of the fresh model must come from the GGUF with its exact shape (a tied ``lm_head`` is
filled by its embedding), or conversion fails: no parameter is ever left randomly initialised.
"""

from __future__ import annotations

import mmap
import struct
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from components.checkpoints.errors import CheckpointError

GGUF_MAGIC = b"GGUF"
GGUF_VERSIONS = (2, 3)  # v1 counted in 32 bits and predates every file still published
DEFAULT_ALIGNMENT = 32  # llama.cpp's, when the file sets no general.alignment
CHECK_PROMPT = "The capital of France is"
# How far the saved model's next-token logits (reloaded in float32) may be from the GGUF's: max abs
# diff over max abs GGUF logit, by saved precision. Float32 holds the dequantised weights exactly;
# half precision rounds each weight (relative 2^-11 float16, 2^-8 bfloat16): SmolLM2-135M Q4_1 saved
# in bfloat16 is off by 0.5 %. A wrong weight layout (un-permuted q/k, swapped tensors) is off by
# the logits' own size, so these leave a wide margin either way.
LOGIT_TOLERANCE = {"float32": 1e-4, "float16": 1e-2, "bfloat16": 3e-2}
# Token texts that end a turn in the chat formats llama.cpp knows (its end-of-generation list). One of
# them in the chat template is where the assistant's reply stops, so generation must stop there too.
END_OF_TURN_TOKENS = (
    "<|im_end|>",
    "<|eot_id|>",
    "<|eom_id|>",
    "<|end|>",
    "<end_of_turn>",
    "<|endoftext|>",
    "<|end_of_text|>",
    "<|return|>",
    "<EOT>",
    "<｜end▁of▁sentence｜>",
)

# GGUF metadata value types (gguf.GGUFValueType): fixed-size scalars, then string (8) and array (9)
_SCALAR_FORMATS = {
    0: "<B",
    1: "<b",
    2: "<H",
    3: "<h",
    4: "<I",
    5: "<i",
    6: "<f",
    7: "<?",
    10: "<Q",
    11: "<q",
    12: "<d",
}
_STRING, _ARRAY = 8, 9
# ggml type ids stored as plain floats; any other is a quantised block type
_F32, _F16, _BF16 = 0, 1, 30


@dataclass(frozen=True)
class GgufHeader:
    """What the conversion needs from a GGUF file without reading its tensors.

    ``metadata`` holds scalars and strings; an array is given as its length. ``tensor_types`` maps each
    tensor's GGUF name to its ggml type id.
    """

    path: Path
    metadata: dict[str, Any]
    tensor_types: dict[str, int]

    @property
    def architecture(self) -> str:
        return str(self.metadata.get("general.architecture", "?"))

    @property
    def save_dtype(self) -> str:
        """The torch dtype name the conversion saves in (the rule in the module docstring)."""
        types = set(self.tensor_types.values())
        if not types <= {_F32, _F16, _BF16} or _BF16 in types:
            return "bfloat16"
        return "float16" if _F16 in types else "float32"


def is_gguf(path: Path) -> bool:
    """Whether ``path`` is a file starting with the GGUF magic bytes (nothing else is read)."""
    path = Path(path)
    if not path.is_file():
        return False
    with path.open("rb") as handle:
        return handle.read(len(GGUF_MAGIC)) == GGUF_MAGIC


def read_gguf_header(path: Path) -> GgufHeader:
    """Parse a GGUF file's metadata and tensor table, and check that every tensor's data is there.

    Raises:
        CheckpointError: not a GGUF file, an unsupported GGUF version, a tensor type ggml does not
            define, or a truncated/corrupt file (one line, naming the file).
    """
    path = Path(path)
    if not is_gguf(path):
        raise CheckpointError(f"{path}: not a GGUF file (no GGUF magic bytes)")
    with path.open("rb") as handle, mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) as blob:
        try:
            header, data_end = _parse(path, blob)
        except (struct.error, UnicodeDecodeError, OverflowError, MemoryError) as error:
            # struct runs off the end of a cut file; a corrupt length can also point anywhere
            raise CheckpointError(f"{path}: truncated or corrupt GGUF header ({error})") from None
        size = len(blob)
    if data_end > size:
        raise CheckpointError(
            f"{path}: truncated GGUF: tensor data needs {data_end} bytes, the file has {size}"
        )
    return header


def _parse(path: Path, blob: mmap.mmap) -> tuple[GgufHeader, int]:
    """The header, and the byte offset where the last tensor's data ends."""
    from gguf import GGML_QUANT_SIZES, GGMLQuantizationType

    version, tensor_count, kv_count = struct.unpack_from("<IQQ", blob, 4)
    if version not in GGUF_VERSIONS:
        raise CheckpointError(f"{path}: GGUF version {version}; only versions 2 and 3 are read")
    pos = 24
    metadata: dict[str, Any] = {}
    for _ in range(kv_count):
        key, pos = _read_string(blob, pos)
        (value_type,) = struct.unpack_from("<I", blob, pos)
        metadata[key], pos = _read_value(path, blob, pos + 4, value_type)

    tensor_types: dict[str, int] = {}
    data_end = 0  # relative to the start of the data section
    for _ in range(tensor_count):
        name, pos = _read_string(blob, pos)
        (n_dims,) = struct.unpack_from("<I", blob, pos)
        dims = struct.unpack_from(f"<{n_dims}Q", blob, pos + 4)
        ggml_type, offset = struct.unpack_from("<IQ", blob, pos + 4 + 8 * n_dims)
        pos += 4 + 8 * n_dims + 12
        try:
            block_size, block_bytes = GGML_QUANT_SIZES[GGMLQuantizationType(ggml_type)]
        except ValueError:
            raise CheckpointError(f"{path}: tensor {name} has unknown ggml type {ggml_type}") from None
        elements = 1
        for dim in dims:
            elements *= dim
        data_end = max(data_end, offset + elements // block_size * block_bytes)
        tensor_types[name] = ggml_type
    alignment = int(metadata.get("general.alignment", DEFAULT_ALIGNMENT))
    data_start = (pos + alignment - 1) // alignment * alignment
    return GgufHeader(path, metadata, tensor_types), data_start + data_end


def _read_string(blob: mmap.mmap, pos: int) -> tuple[str, int]:
    (length,) = struct.unpack_from("<Q", blob, pos)
    end = pos + 8 + length
    if end > len(blob):
        raise struct.error(f"a string of {length} bytes at offset {pos} runs past the end")
    return blob[pos + 8 : end].decode("utf-8"), end


def _read_value(path: Path, blob: mmap.mmap, pos: int, value_type: int) -> tuple[Any, int]:
    """One metadata value and the offset after it; an array is skipped and given as its length."""
    if value_type in _SCALAR_FORMATS:
        fmt = _SCALAR_FORMATS[value_type]
        return struct.unpack_from(fmt, blob, pos)[0], pos + struct.calcsize(fmt)
    if value_type == _STRING:
        return _read_string(blob, pos)
    if value_type == _ARRAY:
        element_type, count = struct.unpack_from("<IQ", blob, pos)
        pos += 12
        if element_type in _SCALAR_FORMATS:
            return count, pos + count * struct.calcsize(_SCALAR_FORMATS[element_type])
        if element_type == _STRING:  # the vocabulary and merges: walked, not decoded
            for _ in range(count):
                (length,) = struct.unpack_from("<Q", blob, pos)
                pos += 8 + length
            return count, pos
    raise CheckpointError(f"{path}: GGUF metadata value of unknown type {value_type} at offset {pos}")


@contextmanager
def _transformers_errors(path: Path, doing: str) -> Iterator[None]:
    """transformers says ValueError/NotImplementedError for what it cannot read; name the file."""
    try:
        yield
    except (ValueError, NotImplementedError, KeyError) as error:
        if isinstance(error, CheckpointError):
            raise
        reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise CheckpointError(f"{path}: transformers cannot {doing} this GGUF ({reason})") from None


def _load_gguf_model(path: Path) -> tuple[Any, set[str]]:
    """The GGUF dequantised into float32, and the names of the parameters it did not fill."""
    import torch
    from transformers import AutoModelForCausalLM, GgufConfig

    with _transformers_errors(path, "load a causal LM from"):
        model, info = AutoModelForCausalLM.from_pretrained(
            path.parent,
            gguf_file=path.name,
            dtype=torch.float32,
            # dense weights even where `kernels` could keep blocks packed: those could not be saved
            quantization_config=GgufConfig(dequantize=True),
            output_loading_info=True,
        )
    return model, set(info["missing_keys"])


def _load_gguf_tokenizer(path: Path) -> Any:
    from transformers import AutoTokenizer

    with _transformers_errors(path, "build a tokenizer from"):
        return AutoTokenizer.from_pretrained(path.parent, gguf_file=path.name)


def _filled_state_dict(path: Path, model: Any, unfilled: set[str], fresh: Any) -> dict[str, Any]:
    """The GGUF's tensors for every parameter of ``fresh`` that is not a tied copy, shapes checked.

    Raises:
        CheckpointError: a parameter the GGUF does not fill, a tensor the fresh model has no place
            for, or a shape that differs (one line, naming the file and the first few names).
    """
    loaded = {name: tensor for name, tensor in model.state_dict().items() if name not in unfilled}
    expected = fresh.state_dict()
    tied = dict(fresh.all_tied_weights_keys)  # {target: source}: targets are filled by tying
    missing = sorted(name for name in expected if name not in loaded and tied.get(name) not in loaded)
    unexpected = sorted(set(loaded) - set(expected))
    mismatched = sorted(
        f"{name} {tuple(loaded[name].shape)} vs {tuple(tensor.shape)}"
        for name, tensor in expected.items()
        if name in loaded and loaded[name].shape != tensor.shape
    )
    for problem, names in (("lacks", missing), ("has unplaced", unexpected), ("has mis-shaped", mismatched)):
        if names:
            shown = ", ".join(names[:3]) + (f" (+{len(names) - 3} more)" if len(names) > 3 else "")
            raise CheckpointError(f"{path}: the converted state dict {problem} parameters: {shown}")
    return {name: tensor for name, tensor in loaded.items() if name not in tied}


def _end_of_turn_ids(header: GgufHeader, tokenizer: Any, eos: int | list[int] | None) -> list[int]:
    """eos first, then the file's end-of-turn/end-of-message ids, then end-of-turn tokens its chat
    template writes: generation must stop wherever the template would close the assistant's turn."""
    if eos is None:
        eos = tokenizer.eos_token_id
    ids = list(eos) if isinstance(eos, list) else [eos] if eos is not None else []
    for key in ("tokenizer.ggml.eot_token_id", "tokenizer.ggml.eom_token_id"):
        if isinstance(header.metadata.get(key), int):
            ids.append(header.metadata[key])
    template = tokenizer.chat_template if isinstance(tokenizer.chat_template, str) else ""
    vocab = tokenizer.get_vocab()
    ids += [vocab[token] for token in END_OF_TURN_TOKENS if token in template and token in vocab]
    return list(dict.fromkeys(ids))  # unique, in order


def convert_gguf_llm(source: Path, out_dir: Path) -> None:
    """Write ``out_dir``: safetensors (precision per the module docstring), ``config.json`` without a
    ``quantization_config``, ``generation_config.json`` and the tokenizer with its chat template, so that
    ``AutoModelForCausalLM.from_pretrained(out_dir)`` and ``AutoTokenizer.from_pretrained(out_dir)`` load
    it offline. ``out_dir`` may exist; files in it are overwritten (callers write into a temporary dir).

    Raises:
        CheckpointError: ``source`` is not a (complete) GGUF file, transformers cannot read its
            architecture or tokenizer, or the GGUF does not fill every parameter with its exact shape.
    """
    import torch
    from accelerate import init_empty_weights
    from transformers import AutoModelForCausalLM, GenerationConfig

    source, out_dir = Path(source), Path(out_dir)
    header = read_gguf_header(source)
    dtype = getattr(torch, header.save_dtype)
    tokenizer = _load_gguf_tokenizer(source)
    model, unfilled = _load_gguf_model(source)

    config = model.config
    # A quantization_config in config.json would send from_pretrained back to the GGUF loader.
    # dequantize=True already drops it in transformers 5.23; this guard keeps it out if that changes.
    if hasattr(config, "quantization_config"):
        del config.quantization_config
    config.dtype = dtype
    if tokenizer.pad_token is None:  # batched generation needs a pad; eos is the usual stand-in
        tokenizer.pad_token = tokenizer.eos_token
    if config.pad_token_id is None:
        config.pad_token_id = tokenizer.pad_token_id
    with init_empty_weights():  # meta parameters: the GGUF's tensors are assigned, not copied in
        fresh = AutoModelForCausalLM.from_config(config, dtype=dtype)
    state = _filled_state_dict(source, model, unfilled, fresh)
    del model
    # rebinding frees the float32 tensors: the peak is one float32 and one saved-precision copy
    state = {name: tensor.to(dtype) for name, tensor in state.items()}
    fresh.load_state_dict(state, strict=False, assign=True)
    fresh.tie_weights()
    if meta := [name for name, tensor in fresh.state_dict().items() if tensor.is_meta]:
        raise CheckpointError(f"{source}: parameters left unfilled after loading: {', '.join(meta[:3])}")

    generation = GenerationConfig.from_model_config(config)
    eos_ids = _end_of_turn_ids(header, tokenizer, config.eos_token_id)
    generation.eos_token_id = eos_ids[0] if len(eos_ids) == 1 else (eos_ids or None)
    generation.pad_token_id = config.pad_token_id
    fresh.generation_config = generation
    out_dir.mkdir(parents=True, exist_ok=True)
    fresh.save_pretrained(out_dir)
    tokenizer.save_pretrained(out_dir)


def check_gguf_conversion(source: Path, out_dir: Path, prompt: str = CHECK_PROMPT) -> float:
    """Reload ``out_dir`` in float32 and ``source`` through transformers' GGUF loader; both tokenizers
    must give the same ids for ``prompt`` (and for it in the chat template), and the next-token logits
    on it must agree: max abs diff at most ``LOGIT_TOLERANCE[saved precision]`` times the largest
    GGUF logit (1e-4 float32, 1e-2 float16, 3e-2 bfloat16). Returns the max abs diff.

    Raises:
        CheckpointError: the tokenizers disagree, or the logits differ by more than the tolerance.
    """
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    source, out_dir = Path(source), Path(out_dir)
    header = read_gguf_header(source)
    saved = AutoModelForCausalLM.from_pretrained(out_dir, dtype=torch.float32).eval()
    saved_tokenizer = AutoTokenizer.from_pretrained(out_dir)
    reference, _ = _load_gguf_model(source)
    reference_tokenizer = _load_gguf_tokenizer(source)

    texts = [prompt]
    if saved_tokenizer.chat_template:
        chat = [{"role": "user", "content": prompt}]
        texts.append(saved_tokenizer.apply_chat_template(chat, tokenize=False, add_generation_prompt=True))
    for text in texts:
        ids, expected = saved_tokenizer(text)["input_ids"], reference_tokenizer(text)["input_ids"]
        if ids != expected:
            raise CheckpointError(f"{out_dir}: its tokenizer splits {text!r} unlike {source.name}'s")

    input_ids = torch.tensor([saved_tokenizer(prompt)["input_ids"]])
    with torch.inference_mode():
        got = saved(input_ids).logits[0, -1]
        want = reference.eval()(input_ids).logits[0, -1]
    diff = float((got - want).abs().max())
    tolerance = LOGIT_TOLERANCE[header.save_dtype] * float(want.abs().max())
    if not diff <= tolerance:  # also catches NaN
        raise CheckpointError(
            f"{out_dir}: next-token logits differ from {source.name}'s by {diff:.4g} "
            f"(tolerance {tolerance:.4g} for {header.save_dtype})"
        )
    return diff
