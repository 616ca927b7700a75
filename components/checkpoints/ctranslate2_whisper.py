"""A CTranslate2 (faster-whisper) Whisper folder → an HF ``WhisperForConditionalGeneration`` folder.

A faster-whisper model is ``model.bin`` (CTranslate2's own binary: a header, named variables, aliases),
``config.json`` (suppressed tokens, alignment heads, language ids) and ``tokenizer.json``. Its tensors
are Whisper's, renamed and partly fused; this module reads the binary, undoes the renaming and fusing
one tensor at a time, and writes what ``from_pretrained`` loads: safetensors in the source's precision,
``config.json``, ``generation_config.json``, the feature extractor and the tokenizer. Every HF parameter
must be filled and every CTranslate2 variable used, with exact shapes, or the conversion fails.
"""

from __future__ import annotations

import json
import re
import struct
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

from components.checkpoints.errors import CheckpointError

MODEL_BIN = "model.bin"
CONFIG = "config.json"
TOKENIZER = "tokenizer.json"
PREPROCESSOR = "preprocessor_config.json"
WHISPER_SPECS = {"WhisperSpec"}
# binary versions 4-6 store a dtype code per variable; older ones predate Whisper in CTranslate2
BINARY_VERSIONS = range(4, 7)
# CTranslate2's DataType enum (include/ctranslate2/types.h); bfloat16 (5) has no numpy type: read as uint16
DTYPES: dict[int, np.dtype] = {
    0: np.dtype("<f4"),
    1: np.dtype("i1"),
    2: np.dtype("<i2"),
    3: np.dtype("<i4"),
    4: np.dtype("<f2"),
    5: np.dtype("<u2"),
}
BFLOAT16 = 5
GELU = 3  # CTranslate2's Activation enum
WHISPER_HEAD_DIM = 64  # every released Whisper size; used only when the binary does not record num_heads
TIME_PRECISION = 0.02  # seconds per timestamp token
POSITIONS_PER_SECOND = 50  # encoder output rate
# CTranslate2 settings that are not tensors: the value Whisper needs, or None for "any, unused"
SETTINGS: dict[str, int | None] = {
    "decoder/activation": GELU,
    "decoder/pre_norm": 1,
    "decoder/scale_embeddings": 0,
    "decoder/start_from_zero_embedding": 0,
    "decoder/alibi": 0,
    "decoder/alibi_use_positive_positions": 0,
    "decoder/scale_alibi": 0,
    "decoder/alignment_layer": None,  # alignment heads come from config.json
    "decoder/alignment_heads": None,
    "encoder/num_heads": None,  # read by _infer_dims
    "decoder/num_heads": None,
}
KEEP_IN_FLOAT32 = re.compile(r".*/keep_in_float32")  # a runtime hint on linear layers
LAYER = re.compile(r"(encoder|decoder)/layer_(\d+)/")
LANGUAGE_TOKEN = re.compile(r"<\|[a-z]{2,3}\|>")  # <|en|>, <|haw|>


def is_ctranslate2_whisper(path: Path) -> bool:
    """True for a folder holding ``model.bin`` and ``config.json`` whose spec is a Whisper spec."""
    path = Path(path)
    if not ((path / MODEL_BIN).is_file() and (path / CONFIG).is_file()):
        return False
    try:
        # any binary version: a Whisper of an unknown version is still CTranslate2's, and its
        # conversion then says which version it is rather than it being taken for an HF folder
        with (path / MODEL_BIN).open("rb") as stream:
            _version, spec, _revision = _read_header(stream, path / MODEL_BIN, check_version=False)
    except (CheckpointError, OSError, UnicodeDecodeError):
        return False
    return spec in WHISPER_SPECS


def read_ctranslate2_variables(model_bin: Path) -> tuple[str, dict[str, np.ndarray]]:
    """The spec name and every variable of a CTranslate2 ``model.bin``, aliases resolved.

    bfloat16 variables come back as float32 (exactly: bfloat16 is float32's upper half); scalars as
    0-d arrays; int8/int16 quantized weights as stored, beside their ``*_scale``.

    Raises:
        CheckpointError: the file is truncated, of an unsupported binary version, or inconsistent.
    """
    spec, variables, _codes = _read_model_bin(Path(model_bin))
    return spec, variables


def convert_ctranslate2_whisper(source: Path, out_dir: Path) -> None:
    """Write the HF directory for the CTranslate2 Whisper folder ``source`` into ``out_dir``.

    The weights keep the source's precision (an fp16 source is fp16 on disk); int8/int16 quantized
    weights are dequantized to the precision of the unquantized ones.

    Raises:
        CheckpointError: a file is missing or unreadable, a tensor is missing, unexpected, or of the
            wrong shape, or a setting is not Whisper's (one line, naming the file and the tensor).
    """
    import torch

    source, out_dir = Path(source), Path(out_dir)
    for name in (MODEL_BIN, CONFIG, TOKENIZER):
        if not (source / name).is_file():
            raise CheckpointError(f"{source / name}: missing; a CTranslate2 Whisper folder needs it")
    model_bin = source / MODEL_BIN
    spec, variables, codes = _read_model_bin(model_bin)
    if spec not in WHISPER_SPECS:
        raise CheckpointError(f"{model_bin}: spec {spec!r} is not a Whisper spec ({sorted(WHISPER_SPECS)})")
    ct2_config = _read_json(source / CONFIG)
    dtype = _float_dtype(variables, codes, model_bin)
    tensors = _Tensors(variables, model_bin)
    _check_settings(tensors)
    dims = _infer_dims(tensors)
    tokenizer = _build_tokenizer(source / TOKENIZER, dims["vocab_size"])
    config = _whisper_config(dims, ct2_config, tokenizer, tied=tensors.projection_is_tied())
    state = _hf_state_dict(tensors, dims, config.tie_word_embeddings)
    tensors.check_all_used()

    from transformers import WhisperForConditionalGeneration

    with torch.device("meta"):
        model = WhisperForConditionalGeneration(config)
    expected = model.state_dict()
    for hf_name, (ct2_name, array) in state.items():
        if hf_name not in expected:
            raise CheckpointError(f"{model_bin}: {ct2_name} maps to {hf_name}, which this Whisper lacks")
        if tuple(array.shape) != tuple(expected[hf_name].shape):
            raise CheckpointError(
                f"{model_bin}: {ct2_name} has shape {tuple(array.shape)}, "
                f"expected {tuple(expected[hf_name].shape)} for {hf_name}"
            )
    tied = {"proj_out.weight"} if config.tie_word_embeddings else set()
    unfilled = sorted(set(expected) - set(state) - tied)
    if unfilled:
        raise CheckpointError(f"{model_bin}: nothing fills {unfilled[0]} ({len(unfilled)} unfilled)")
    weights = {name: _to_torch(array, dtype) for name, (_ct2, array) in state.items()}
    model.load_state_dict(weights, strict=not tied, assign=True)
    if tied:
        model.tie_weights()
    model.config.dtype = dtype  # recorded in config.json: the checkpoint's precision, not the meta model's
    model.generation_config = _generation_config(config, ct2_config, tokenizer, source)

    out_dir.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out_dir)
    _feature_extractor(source, dims["num_mel_bins"], dims["encoder_positions"]).save_pretrained(out_dir)
    tokenizer.save_pretrained(out_dir)


def transcribe(model_dir: Path, audio: np.ndarray, sample_rate: int, language: str | None = None) -> str:
    """Greedy transcript of ``audio`` by the converted model's own decoder (fp32, CPU).

    ``audio`` is mono float samples in [-1, 1] at ``sample_rate`` Hz (resampled to the feature
    extractor's rate), at most one window (30 s for released Whisper sizes). ``language`` (e.g.
    ``"en"``) is forced on a multilingual model and detected when None; an English-only model takes
    None or English.

    Raises:
        ValueError: the audio is not 1-D, is empty, or is longer than one window.
    """
    import torch
    import torchaudio.functional as AF
    from transformers import WhisperForConditionalGeneration, WhisperProcessor

    samples = np.asarray(audio, dtype=np.float32)
    if samples.ndim != 1 or samples.size == 0:
        raise ValueError(f"audio must be 1-D, non-empty mono samples; got shape {samples.shape}")
    processor = WhisperProcessor.from_pretrained(model_dir)
    window = processor.feature_extractor.chunk_length
    if samples.size / sample_rate > window:  # the extractor would silently cut it
        raise ValueError(f"audio is {samples.size / sample_rate:.1f} s; transcribe takes at most {window} s")
    model = WhisperForConditionalGeneration.from_pretrained(model_dir, dtype=torch.float32).eval()
    rate = processor.feature_extractor.sampling_rate
    wave = torch.from_numpy(samples)
    if sample_rate != rate:
        wave = AF.resample(wave, sample_rate, rate)
    features = processor.feature_extractor(wave.numpy(), sampling_rate=rate, return_tensors="pt")
    multilingual = getattr(model.generation_config, "is_multilingual", False)
    if not multilingual:
        if language not in (None, "en", "english"):
            raise ValueError(f"{model_dir}: an English-only Whisper cannot transcribe language {language!r}")
        language = None  # generate refuses any language on an English-only model
    with torch.inference_mode():
        ids = model.generate(
            features.input_features,
            language=language,
            task="transcribe" if multilingual else None,
            num_beams=1,
            do_sample=False,
        )
    return processor.tokenizer.decode(ids[0], skip_special_tokens=True).strip()


# --- model.bin -----------------------------------------------------------------------------------------


def _read_exact(stream: BinaryIO, size: int, path: Path) -> bytes:
    data = stream.read(size)
    if len(data) != size:
        raise CheckpointError(f"{path}: truncated at byte {stream.tell()}")
    return data


def _read_uint(stream: BinaryIO, fmt: str, path: Path) -> int:
    # CTranslate2 writes with struct's native order; every platform it ships on is little-endian
    return struct.unpack("<" + fmt, _read_exact(stream, struct.calcsize("<" + fmt), path))[0]


def _read_string(stream: BinaryIO, path: Path) -> str:
    """A uint16 length (counting the NUL), the UTF-8 bytes, a NUL."""
    size = _read_uint(stream, "H", path)
    data = _read_exact(stream, size, path)
    if size == 0 or data[-1] != 0:
        raise CheckpointError(f"{path}: malformed string at byte {stream.tell() - size}")
    return data[:-1].decode("utf-8")


def _read_header(stream: BinaryIO, path: Path, check_version: bool = True) -> tuple[int, str, int]:
    """(binary version, spec name, spec revision): the layout of every version since 2."""
    version = _read_uint(stream, "I", path)
    if check_version and version not in BINARY_VERSIONS:
        raise CheckpointError(
            f"{path}: CTranslate2 binary version {version}, this reader knows "
            f"{BINARY_VERSIONS.start}-{BINARY_VERSIONS.stop - 1}"
        )
    return version, _read_string(stream, path), _read_uint(stream, "I", path)


def _read_model_bin(path: Path) -> tuple[str, dict[str, np.ndarray], dict[str, int]]:
    """(spec, name → array, name → CTranslate2 dtype code), aliases resolved to the same array."""
    variables: dict[str, np.ndarray] = {}
    codes: dict[str, int] = {}
    with path.open("rb") as stream:
        _version, spec, _revision = _read_header(stream, path)
        for _ in range(_read_uint(stream, "I", path)):
            name = _read_string(stream, path)
            rank = _read_uint(stream, "B", path)
            shape = tuple(_read_uint(stream, "I", path) for _ in range(rank))
            code = _read_uint(stream, "B", path)
            size = _read_uint(stream, "I", path)
            if code not in DTYPES:
                raise CheckpointError(f"{path}: {name} has unknown dtype code {code}")
            dtype = DTYPES[code]
            if size != int(np.prod(shape, dtype=np.int64)) * dtype.itemsize:
                raise CheckpointError(
                    f"{path}: {name} holds {size} bytes, not a {dtype} array of shape {shape}"
                )
            array = np.frombuffer(_read_exact(stream, size, path), dtype=dtype).reshape(shape)
            if code == BFLOAT16:  # bfloat16 is the upper 16 bits of a float32
                array = (array.astype(np.uint32) << 16).view(np.float32)
            variables[name], codes[name] = array, code
        for _ in range(_read_uint(stream, "I", path)):
            alias, target = _read_string(stream, path), _read_string(stream, path)
            if target not in variables:
                raise CheckpointError(f"{path}: alias {alias} names a missing variable {target}")
            variables[alias], codes[alias] = variables[target], codes[target]
        if stream.read(1):
            raise CheckpointError(f"{path}: trailing bytes after the aliases at byte {stream.tell() - 1}")
    return spec, variables, codes


# --- tensors -------------------------------------------------------------------------------------------


class _Tensors:
    """The CTranslate2 variables, taken by name; remembers what was used so leftovers can be named."""

    def __init__(self, variables: dict[str, np.ndarray], path: Path) -> None:
        self.variables = variables
        self.path = path
        self.used: set[str] = set()

    def take(self, name: str) -> np.ndarray:
        """The float value of ``name``, dequantized when it has a ``*_scale``."""
        if name not in self.variables:
            raise CheckpointError(f"{self.path}: missing tensor {name}")
        self.used.add(name)
        value = self.variables[name]
        scale_name = name + "_scale"
        if scale_name in self.variables:  # int8 (one scale per output row/channel) or int16 (one scale)
            self.used.add(scale_name)
            scale = self.variables[scale_name].astype(np.float32)
            if scale.ndim == 1:  # (out,) against (out, in) linears and (out, in, width) convolutions
                scale = scale.reshape(-1, *[1] * (value.ndim - 1))
            value = value.astype(np.float32) / scale
        elif not np.issubdtype(value.dtype, np.floating):
            raise CheckpointError(f"{self.path}: {name} is {value.dtype} without a {scale_name}")
        return value

    def has(self, name: str) -> bool:
        return name in self.variables

    def setting(self, name: str) -> int:
        self.used.add(name)
        return int(self.variables[name])

    def layer_count(self, stack: str) -> int:
        indices = {int(m.group(2)) for n in self.variables if (m := LAYER.match(n)) and m.group(1) == stack}
        if indices != set(range(len(indices))):
            raise CheckpointError(f"{self.path}: {stack} layers are not numbered 0..n-1: {sorted(indices)}")
        return len(indices)

    def projection_is_tied(self) -> bool:
        """Whisper ties its output projection to the token embeddings; CTranslate2 stores an alias."""
        name = "decoder/projection/weight"
        if not self.has(name):
            return True  # nothing to untie: Whisper's projection is its embeddings
        tied = self.variables[name] is self.variables["decoder/embeddings/weight"] or np.array_equal(
            self.variables[name], self.variables["decoder/embeddings/weight"]
        )
        self.used.add(name)
        return tied

    def check_all_used(self) -> None:
        unused = sorted(n for n in self.variables if n not in self.used and not KEEP_IN_FLOAT32.fullmatch(n))
        if unused:
            raise CheckpointError(f"{self.path}: unexpected tensor {unused[0]} ({len(unused)} unused)")


def _float_dtype(variables: dict[str, np.ndarray], codes: dict[str, int], path: Path) -> Any:
    """The torch dtype of the converted weights: that of the (never quantized) encoder layer norm."""
    import torch

    name = "encoder/layer_norm/gamma"
    if name not in variables:
        raise CheckpointError(f"{path}: missing tensor {name}")
    by_code = {0: torch.float32, 4: torch.float16, BFLOAT16: torch.bfloat16}
    if codes[name] not in by_code:
        raise CheckpointError(f"{path}: {name} is not a float tensor (dtype code {codes[name]})")
    return by_code[codes[name]]


def _check_settings(tensors: _Tensors) -> None:
    for name, value in tensors.variables.items():
        if value.ndim != 0 or name.endswith("_scale"):  # an int16 weight's scale is a scalar
            continue
        if name not in SETTINGS and not KEEP_IN_FLOAT32.fullmatch(name):
            raise CheckpointError(f"{tensors.path}: unexpected setting {name} = {value}")
        needed = SETTINGS.get(name)
        if needed is not None and int(value) != needed:
            raise CheckpointError(f"{tensors.path}: {name} is {int(value)}, Whisper needs {needed}")
        tensors.used.add(name)


def _infer_dims(tensors: _Tensors) -> dict[str, int]:
    """Whisper's sizes from the tensors' shapes; heads from the binary's ``num_heads`` settings."""
    conv1 = tensors.variables.get("encoder/conv1/weight")
    embeddings = tensors.variables.get("decoder/embeddings/weight")
    for name, value in (("encoder/conv1/weight", conv1), ("decoder/embeddings/weight", embeddings)):
        if value is None:
            raise CheckpointError(f"{tensors.path}: missing tensor {name}")
    d_model, num_mel_bins = conv1.shape[0], conv1.shape[1]
    dims = {"d_model": d_model, "num_mel_bins": num_mel_bins, "vocab_size": embeddings.shape[0]}
    for stack in ("encoder", "decoder"):
        layers = tensors.layer_count(stack)
        positions = f"{stack}/position_encodings/encodings"
        fc1 = f"{stack}/layer_0/ffn/linear_0/weight"
        for name in (positions, fc1):
            if name not in tensors.variables:
                raise CheckpointError(f"{tensors.path}: missing tensor {name}")
        heads_name = f"{stack}/num_heads"
        # revisions before num_heads was stored: every Whisper has 64-dim heads
        heads = tensors.setting(heads_name) if tensors.has(heads_name) else d_model // WHISPER_HEAD_DIM
        if heads <= 0 or d_model % heads:
            raise CheckpointError(f"{tensors.path}: {heads_name} = {heads} does not divide d_model {d_model}")
        dims[f"{stack}_layers"] = layers
        dims[f"{stack}_heads"] = heads
        dims[f"{stack}_ffn_dim"] = tensors.variables[fc1].shape[0]
        dims[f"{stack}_positions"] = tensors.variables[positions].shape[0]
    return dims


def _split(tensors: _Tensors, name: str, parts: int, d_model: int) -> list[np.ndarray]:
    """A fused projection (q|k|v or k|v stacked along dim 0) cut into ``parts`` equal blocks."""
    value = tensors.take(name)
    if value.shape[0] != parts * d_model:
        raise CheckpointError(
            f"{tensors.path}: {name} has shape {value.shape}, expected {parts} × {d_model} fused rows"
        )
    return np.split(value, parts, axis=0)


def _hf_state_dict(tensors: _Tensors, dims: dict[str, int], tied: bool) -> dict[str, tuple[str, np.ndarray]]:
    """HF parameter name → (the CTranslate2 variable it comes from, its value)."""
    d = dims["d_model"]
    state: dict[str, tuple[str, np.ndarray]] = {}

    def put(hf: str, ct2: str, value: np.ndarray | None = None) -> None:
        state[hf] = (ct2, tensors.take(ct2) if value is None else value)

    def norm(hf: str, ct2: str) -> None:
        put(f"{hf}.weight", f"{ct2}/gamma")
        put(f"{hf}.bias", f"{ct2}/beta")

    def linear(hf: str, ct2: str) -> None:
        put(f"{hf}.weight", f"{ct2}/weight")
        put(f"{hf}.bias", f"{ct2}/bias")

    def k_without_bias(ct2_bias: str, bias: np.ndarray) -> None:
        # CTranslate2 fuses k with a zero bias; HF's k_proj has none, so a nonzero one cannot be kept
        if np.any(bias):
            raise CheckpointError(
                f"{tensors.path}: {ct2_bias} has a nonzero key bias; Whisper's k_proj has none"
            )

    def fused(hf: str, ct2_linear: str, projections: str) -> None:
        """One CTranslate2 linear holding several projections stacked along dim 0 (``qkv``, ``kv``)."""
        for suffix in ("weight", "bias"):
            source = f"{ct2_linear}/{suffix}"
            for name, part in zip(projections, _split(tensors, source, len(projections), d), strict=True):
                if name == "k" and suffix == "bias":
                    k_without_bias(source, part)
                else:
                    put(f"{hf}.{name}_proj.{suffix}", source, part)

    def self_attention(hf: str, ct2: str) -> None:
        fused(hf, f"{ct2}/linear_0", "qkv")
        linear(f"{hf}.out_proj", f"{ct2}/linear_1")

    def cross_attention(hf: str, ct2: str) -> None:
        linear(f"{hf}.q_proj", f"{ct2}/linear_0")
        fused(hf, f"{ct2}/linear_1", "kv")
        linear(f"{hf}.out_proj", f"{ct2}/linear_2")

    def ffn(hf: str, ct2: str) -> None:
        norm(f"{hf}.final_layer_norm", f"{ct2}/ffn/layer_norm")
        linear(f"{hf}.fc1", f"{ct2}/ffn/linear_0")
        linear(f"{hf}.fc2", f"{ct2}/ffn/linear_1")

    enc, dec = "model.encoder", "model.decoder"
    for conv in ("conv1", "conv2"):
        linear(f"{enc}.{conv}", f"encoder/{conv}")
    put(f"{enc}.embed_positions.weight", "encoder/position_encodings/encodings")
    norm(f"{enc}.layer_norm", "encoder/layer_norm")
    for i in range(dims["encoder_layers"]):
        ct2, hf = f"encoder/layer_{i}", f"{enc}.layers.{i}"
        norm(f"{hf}.self_attn_layer_norm", f"{ct2}/self_attention/layer_norm")
        self_attention(f"{hf}.self_attn", f"{ct2}/self_attention")
        ffn(hf, ct2)

    put(f"{dec}.embed_tokens.weight", "decoder/embeddings/weight")
    put(f"{dec}.embed_positions.weight", "decoder/position_encodings/encodings")
    norm(f"{dec}.layer_norm", "decoder/layer_norm")
    for i in range(dims["decoder_layers"]):
        ct2, hf = f"decoder/layer_{i}", f"{dec}.layers.{i}"
        norm(f"{hf}.self_attn_layer_norm", f"{ct2}/self_attention/layer_norm")
        self_attention(f"{hf}.self_attn", f"{ct2}/self_attention")
        norm(f"{hf}.encoder_attn_layer_norm", f"{ct2}/attention/layer_norm")
        cross_attention(f"{hf}.encoder_attn", f"{ct2}/attention")
        ffn(hf, ct2)
    if not tied:
        put("proj_out.weight", "decoder/projection/weight")
    if tensors.has("decoder/projection/bias"):
        bias = tensors.take("decoder/projection/bias")
        if np.any(bias):  # Whisper's proj_out has no bias
            raise CheckpointError(f"{tensors.path}: decoder/projection/bias is nonzero; Whisper's has none")
    return state


def _to_torch(array: np.ndarray, dtype: Any) -> Any:
    import torch

    # np.frombuffer arrays are read-only views; torch wants writable memory
    return torch.from_numpy(np.array(array, copy=True)).to(dtype)


# --- config, tokenizer, feature extractor -------------------------------------------------------------


def _read_json(path: Path) -> dict[str, Any]:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as error:
        raise CheckpointError(f"{path}: unreadable JSON ({error})") from None


def _build_tokenizer(path: Path, vocab_size: int) -> Any:
    """The Whisper tokenizer from ``tokenizer.json``, with its timestamp tokens up to ``vocab_size``."""
    from tokenizers import AddedToken
    from transformers import WhisperTokenizerFast

    raw = _read_json(path)
    specials = [
        t["content"] for t in sorted(raw.get("added_tokens", []), key=lambda t: t["id"]) if t["special"]
    ]
    if "<|endoftext|>" not in specials or "<|startoftranscript|>" not in specials:
        raise CheckpointError(f"{path}: not a Whisper tokenizer (no <|endoftext|>/<|startoftranscript|>)")
    tokenizer = WhisperTokenizerFast(
        tokenizer_file=str(path),
        unk_token="<|endoftext|>",
        bos_token="<|endoftext|>",
        eos_token="<|endoftext|>",
        pad_token="<|endoftext|>",
        extra_special_tokens=specials,  # so timestamp ids start after the last special, as HF expects
    )
    missing = vocab_size - len(tokenizer)
    if missing < 0:
        raise CheckpointError(
            f"{path}: {len(tokenizer)} tokens, more than the model's vocabulary {vocab_size}"
        )
    # CTranslate2 names the ids past the tokenizer as timestamps, 0.02 s apart (its vocabulary.txt)
    stamps = [f"<|{i * TIME_PRECISION:.2f}|>" for i in range(missing)]
    tokenizer.add_tokens([AddedToken(s, special=False, normalized=False) for s in stamps])
    if len(tokenizer) != vocab_size:
        raise CheckpointError(f"{path}: timestamp tokens clash with existing tokens")
    return tokenizer


def _token_id(tokenizer: Any, token: str) -> int | None:
    token_id = tokenizer.convert_tokens_to_ids(token)
    return None if token_id is None or token_id == tokenizer.unk_token_id else int(token_id)


def _whisper_config(dims: dict[str, int], ct2_config: dict[str, Any], tokenizer: Any, tied: bool) -> Any:
    from transformers import WhisperConfig

    eot = tokenizer.convert_tokens_to_ids("<|endoftext|>")  # Whisper's bos, eos and pad alike
    return WhisperConfig(
        vocab_size=dims["vocab_size"],
        num_mel_bins=dims["num_mel_bins"],
        d_model=dims["d_model"],
        encoder_layers=dims["encoder_layers"],
        encoder_attention_heads=dims["encoder_heads"],
        encoder_ffn_dim=dims["encoder_ffn_dim"],
        decoder_layers=dims["decoder_layers"],
        decoder_attention_heads=dims["decoder_heads"],
        decoder_ffn_dim=dims["decoder_ffn_dim"],
        max_source_positions=dims["encoder_positions"],
        max_target_positions=dims["decoder_positions"],
        pad_token_id=eot,
        bos_token_id=eot,
        eos_token_id=eot,
        decoder_start_token_id=tokenizer.convert_tokens_to_ids("<|startoftranscript|>"),
        suppress_tokens=list(ct2_config.get("suppress_ids", [])),
        begin_suppress_tokens=list(ct2_config.get("suppress_ids_begin", [])),
        tie_word_embeddings=tied,
    )


def _generation_config(config: Any, ct2_config: dict[str, Any], tokenizer: Any, source: Path) -> Any:
    """What ``WhisperForConditionalGeneration.generate`` reads: special ids, languages, tasks."""
    from transformers import GenerationConfig

    lang_ids = [int(i) for i in ct2_config.get("lang_ids") or []]
    generation = GenerationConfig(
        decoder_start_token_id=config.decoder_start_token_id,
        bos_token_id=config.bos_token_id,
        eos_token_id=config.eos_token_id,
        pad_token_id=config.pad_token_id,
        max_length=config.max_target_positions,
        suppress_tokens=config.suppress_tokens,
        begin_suppress_tokens=config.begin_suppress_tokens,
        alignment_heads=[list(pair) for pair in ct2_config.get("alignment_heads") or []],
        no_timestamps_token_id=_token_id(tokenizer, "<|notimestamps|>"),
        prev_sot_token_id=_token_id(tokenizer, "<|startofprev|>"),
        max_initial_timestamp_index=50,  # openai/whisper's default: the first timestamp is at most 1 s
        return_timestamps=False,
        is_multilingual=bool(lang_ids),
    )
    if lang_ids:
        tokens = tokenizer.convert_ids_to_tokens(lang_ids)
        for token_id, token in zip(lang_ids, tokens, strict=True):
            if not (token and LANGUAGE_TOKEN.fullmatch(token)):
                raise CheckpointError(
                    f"{source / CONFIG}: lang_ids holds {token_id} ({token!r}), not a language token"
                )
        generation.lang_to_id = dict(zip(tokens, lang_ids, strict=True))
        generation.task_to_id = {
            task: _token_id(tokenizer, f"<|{task}|>") for task in ("transcribe", "translate")
        }
        if None in generation.task_to_id.values():
            raise CheckpointError(
                f"{source / TOKENIZER}: a multilingual Whisper needs <|transcribe|> and <|translate|>"
            )
    return generation


def _feature_extractor(source: Path, num_mel_bins: int, encoder_positions: int) -> Any:
    """The source's ``preprocessor_config.json`` if it has one, else Whisper's defaults for its mels,
    with a window as long as the encoder's positions cover (1500 positions: 30 s)."""
    from transformers import WhisperFeatureExtractor

    if (source / PREPROCESSOR).is_file():
        extractor = WhisperFeatureExtractor.from_pretrained(source)
        if extractor.feature_size != num_mel_bins:
            raise CheckpointError(
                f"{source / PREPROCESSOR}: feature_size {extractor.feature_size}, "
                f"but encoder/conv1/weight takes {num_mel_bins} mel bins"
            )
        return extractor
    # the encoder takes 2 mel frames per position (conv2 has stride 2), 100 frames per second
    if encoder_positions % POSITIONS_PER_SECOND:
        raise CheckpointError(
            f"{source / MODEL_BIN}: encoder/position_encodings/encodings has {encoder_positions} rows, "
            f"not a whole number of seconds ({POSITIONS_PER_SECOND} per second)"
        )
    return WhisperFeatureExtractor(
        feature_size=num_mel_bins, chunk_length=encoder_positions // POSITIONS_PER_SECOND
    )
