"""CTranslate2 Whisper → HF: a tiny random Whisper written in CTranslate2's layout converts back exactly.

The test writes ``model.bin`` itself, following CTranslate2's ``ModelSpec._serialize`` (little-endian;
strings as a uint16 length counting a trailing NUL; per variable: name, uint8 rank, uint32 dims, uint8
dtype code, uint32 byte count, raw bytes; then aliases), so no CTranslate2 install is needed.
"""

from __future__ import annotations

import json
import struct
from pathlib import Path

import numpy as np
import pytest

D_MODEL, LAYERS, HEADS, FFN = 32, 2, 2, 64
ENCODER_POSITIONS, DECODER_POSITIONS = 50, 24  # 50 encoder positions: a 1 s window
LETTERS = "abcdefghijklmnopqrstuvwxyz.Ġ"  # byte-level BPE with no merges: one token per character
SPECIALS = [
    "<|endoftext|>",
    "<|startoftranscript|>",
    "<|en|>",
    "<|fr|>",
    "<|translate|>",
    "<|transcribe|>",
    "<|startoflm|>",
    "<|startofprev|>",
    "<|nocaptions|>",
    "<|notimestamps|>",
]
VOCAB = 60  # 28 letters + 10 specials + 22 timestamp tokens
FLOAT32, FLOAT16 = np.dtype("float32"), np.dtype("float16")
CT2_DTYPE_CODES = {FLOAT32: 0, np.dtype("int8"): 1, np.dtype("int16"): 2, FLOAT16: 4}


def tiny_whisper(seed: int = 0):
    import torch
    from transformers import WhisperConfig, WhisperForConditionalGeneration

    config = WhisperConfig(
        vocab_size=VOCAB,
        num_mel_bins=80,
        d_model=D_MODEL,
        encoder_layers=LAYERS,
        encoder_attention_heads=HEADS,
        encoder_ffn_dim=FFN,
        decoder_layers=LAYERS,
        decoder_attention_heads=HEADS,
        decoder_ffn_dim=FFN,
        max_source_positions=ENCODER_POSITIONS,
        max_target_positions=DECODER_POSITIONS,
        pad_token_id=28,
        bos_token_id=28,
        eos_token_id=28,
        decoder_start_token_id=29,
    )
    torch.manual_seed(seed)
    model = WhisperForConditionalGeneration(config).eval()
    with torch.no_grad():  # random init leaves biases and norms at 0/1: make every value count
        for parameter in model.parameters():
            parameter.add_(torch.randn_like(parameter) * 0.1)
    return model


def ct2_variables(model, dtype: np.dtype) -> tuple[dict[str, np.ndarray], dict[str, str]]:
    """The tiny model's tensors under CTranslate2's names (what its Whisper converter writes)."""
    state = {name: value.detach().float().numpy().astype(dtype) for name, value in model.state_dict().items()}
    variables: dict[str, np.ndarray] = {}

    def norm(ct2: str, hf: str) -> None:
        variables[f"{ct2}/gamma"], variables[f"{ct2}/beta"] = state[f"{hf}.weight"], state[f"{hf}.bias"]

    def linear(ct2: str, hf: str) -> None:
        variables[f"{ct2}/weight"], variables[f"{ct2}/bias"] = state[f"{hf}.weight"], state[f"{hf}.bias"]

    def fused(ct2: str, hf: str, parts: list[str]) -> None:
        variables[f"{ct2}/weight"] = np.concatenate([state[f"{hf}.{p}.weight"] for p in parts])
        zero = np.zeros(D_MODEL, dtype)  # k_proj has no bias: CTranslate2 fuses zeros in its place
        variables[f"{ct2}/bias"] = np.concatenate([state.get(f"{hf}.{p}.bias", zero) for p in parts])

    def layer(ct2: str, hf: str, cross: bool) -> None:
        norm(f"{ct2}/self_attention/layer_norm", f"{hf}.self_attn_layer_norm")
        fused(f"{ct2}/self_attention/linear_0", f"{hf}.self_attn", ["q_proj", "k_proj", "v_proj"])
        linear(f"{ct2}/self_attention/linear_1", f"{hf}.self_attn.out_proj")
        if cross:
            norm(f"{ct2}/attention/layer_norm", f"{hf}.encoder_attn_layer_norm")
            linear(f"{ct2}/attention/linear_0", f"{hf}.encoder_attn.q_proj")
            fused(f"{ct2}/attention/linear_1", f"{hf}.encoder_attn", ["k_proj", "v_proj"])
            linear(f"{ct2}/attention/linear_2", f"{hf}.encoder_attn.out_proj")
        norm(f"{ct2}/ffn/layer_norm", f"{hf}.final_layer_norm")
        linear(f"{ct2}/ffn/linear_0", f"{hf}.fc1")
        linear(f"{ct2}/ffn/linear_1", f"{hf}.fc2")

    linear("encoder/conv1", "model.encoder.conv1")
    linear("encoder/conv2", "model.encoder.conv2")
    variables["encoder/position_encodings/encodings"] = state["model.encoder.embed_positions.weight"]
    norm("encoder/layer_norm", "model.encoder.layer_norm")
    variables["decoder/embeddings/weight"] = state["model.decoder.embed_tokens.weight"]
    variables["decoder/position_encodings/encodings"] = state["model.decoder.embed_positions.weight"]
    norm("decoder/layer_norm", "model.decoder.layer_norm")
    for i in range(LAYERS):
        layer(f"encoder/layer_{i}", f"model.encoder.layers.{i}", cross=False)
        layer(f"decoder/layer_{i}", f"model.decoder.layers.{i}", cross=True)
    settings = {
        "encoder/num_heads": np.int16(HEADS),
        "decoder/num_heads": np.int16(HEADS),
        "decoder/activation": np.int8(3),  # GELU
        "decoder/pre_norm": np.int8(1),
        "decoder/scale_embeddings": np.int8(0),
        "decoder/alibi": np.int8(0),
        "decoder/start_from_zero_embedding": np.int8(0),
        "decoder/alignment_layer": np.int16(-1),
        "decoder/alignment_heads": np.int16(1),
    }
    variables.update({name: np.asarray(value) for name, value in settings.items()})
    return variables, {"decoder/projection/weight": "decoder/embeddings/weight"}


def write_model_bin(
    path: Path, variables: dict[str, np.ndarray], aliases: dict[str, str], spec: str = "WhisperSpec"
) -> None:
    def string(text: str) -> bytes:
        data = text.encode("utf-8") + b"\0"
        return struct.pack("<H", len(data)) + data

    out = [
        struct.pack("<I", 6),
        string(spec),
        struct.pack("<I", 3),
        struct.pack("<I", len(variables)),
    ]
    for name, value in sorted(variables.items()):
        value = np.asarray(value, order="C")  # (np.ascontiguousarray would make scalars 1-d)
        out += [string(name), struct.pack("<B", value.ndim), *(struct.pack("<I", d) for d in value.shape)]
        out += [struct.pack("<BI", CT2_DTYPE_CODES[value.dtype], value.nbytes), value.tobytes()]
    out.append(struct.pack("<I", len(aliases)))
    out += [string(alias) + string(target) for alias, target in sorted(aliases.items())]
    path.write_bytes(b"".join(out))


def write_tokenizer(path: Path) -> None:
    from tokenizers import AddedToken, Tokenizer, decoders, models, pre_tokenizers

    tokenizer = Tokenizer(models.BPE(vocab={c: i for i, c in enumerate(LETTERS)}, merges=[]))
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    tokenizer.add_special_tokens([AddedToken(t, special=True, normalized=False) for t in SPECIALS])
    tokenizer.save(str(path))


def write_ct2_dir(folder: Path, model, dtype: np.dtype = FLOAT32, edit=lambda variables: None) -> Path:
    folder.mkdir(parents=True)
    variables, aliases = ct2_variables(model, dtype)
    edit(variables)
    write_model_bin(folder / "model.bin", variables, aliases)
    ids = {token: len(LETTERS) + i for i, token in enumerate(SPECIALS)}
    config = {
        "suppress_ids": [ids["<|startoflm|>"]],
        "suppress_ids_begin": [ids["<|endoftext|>"]],
        "lang_ids": [ids["<|en|>"], ids["<|fr|>"]],
        "alignment_heads": [[1, 0], [1, 1]],
    }
    (folder / "config.json").write_text(json.dumps(config), encoding="utf-8")
    write_tokenizer(folder / "tokenizer.json")
    return folder


@pytest.fixture(scope="module")
def original():
    return tiny_whisper()


@pytest.mark.parametrize("dtype", ["float32", "float16"])
def test_every_parameter_converts_back_exactly_in_the_sources_precision(
    tmp_path: Path, original, dtype: str
) -> None:
    import torch
    from safetensors.torch import load_file
    from transformers import AutoModel

    from components.checkpoints.ctranslate2_whisper import convert_ctranslate2_whisper

    source = write_ct2_dir(tmp_path / "ct2", original, np.dtype(dtype))
    convert_ctranslate2_whisper(source, tmp_path / "hf")

    stored = load_file(tmp_path / "hf" / "model.safetensors")
    assert {value.dtype for value in stored.values()} == {getattr(torch, dtype)}  # fp16 stays fp16 on disk
    converted = AutoModel.from_pretrained(tmp_path / "hf", dtype=torch.float32)  # the bare WhisperModel
    expected = {
        k.removeprefix("model."): v for k, v in original.state_dict().items() if k != "proj_out.weight"
    }
    got = converted.state_dict()
    assert got.keys() == expected.keys()
    for name, value in expected.items():
        # fp16 source: the original rounded to fp16 is what must come back, bit for bit
        assert torch.equal(got[name], value.to(getattr(torch, dtype)).float()), name


def test_converted_model_computes_what_the_original_does_and_loads_with_its_processor(
    tmp_path: Path, original
) -> None:
    import torch
    from transformers import (
        AutoFeatureExtractor,
        AutoTokenizer,
        WhisperForConditionalGeneration,
        WhisperProcessor,
    )

    from components.checkpoints.ctranslate2_whisper import convert_ctranslate2_whisper, transcribe

    convert_ctranslate2_whisper(write_ct2_dir(tmp_path / "ct2", original), tmp_path / "hf")
    converted = WhisperForConditionalGeneration.from_pretrained(tmp_path / "hf", dtype=torch.float32).eval()
    extractor = AutoFeatureExtractor.from_pretrained(tmp_path / "hf")
    assert extractor.feature_size == 80 and extractor.chunk_length == ENCODER_POSITIONS // 50
    audio = np.random.default_rng(0).uniform(-0.5, 0.5, 16000).astype(np.float32)
    features = extractor(audio, sampling_rate=16000, return_tensors="pt").input_features
    prompt = torch.tensor([[29, 30, 33, 37]])  # startoftranscript, en, transcribe, notimestamps
    with torch.inference_mode():
        for model in (original, converted):
            model.config._attn_implementation = "eager"  # the same kernels on both sides
        want, got = (
            original(features, decoder_input_ids=prompt),
            converted(features, decoder_input_ids=prompt),
        )
    assert torch.equal(got.encoder_last_hidden_state, want.encoder_last_hidden_state)
    assert torch.equal(got.logits, want.logits)  # the tied projection came back too

    tokenizer = AutoTokenizer.from_pretrained(tmp_path / "hf")
    assert len(tokenizer) == VOCAB  # the ids past the tokenizer are named as timestamps
    assert tokenizer.convert_ids_to_tokens([37, 38, 59]) == ["<|notimestamps|>", "<|0.00|>", "<|0.42|>"]
    assert tokenizer.decode(tokenizer(" abc.").input_ids, skip_special_tokens=True) == " abc."
    processor = WhisperProcessor.from_pretrained(tmp_path / "hf")
    assert converted.generation_config.lang_to_id == {"<|en|>": 30, "<|fr|>": 31}
    assert converted.generation_config.no_timestamps_token_id == 37
    assert type(processor.tokenizer) is type(tokenizer)
    # random weights say nothing useful, but the whole decoding path must run: language forced or detected
    for language in ("en", None):
        assert isinstance(transcribe(tmp_path / "hf", audio[:8000], 8000, language=language), str)
    with pytest.raises(ValueError, match="at most 1 s"):
        transcribe(tmp_path / "hf", np.zeros(32000, np.float32), 16000)


def test_a_missing_tensor_is_named(tmp_path: Path, original) -> None:
    from components.checkpoints.ctranslate2_whisper import CheckpointError, convert_ctranslate2_whisper

    name = "decoder/layer_1/attention/linear_2/bias"
    source = write_ct2_dir(tmp_path / "ct2", original, edit=lambda v: v.pop(name))
    with pytest.raises(CheckpointError, match=f"model.bin: missing tensor {name}$"):
        convert_ctranslate2_whisper(source, tmp_path / "hf")


@pytest.mark.parametrize(
    ("name", "fix"),
    [
        ("encoder/layer_1/ffn/linear_1/weight", lambda w: w[:, :-1]),  # a plain tensor one column short
        ("decoder/layer_0/self_attention/linear_0/weight", lambda w: w[:-2]),  # a fused q|k|v two rows short
    ],
)
def test_a_tensor_of_the_wrong_shape_is_named(tmp_path: Path, original, name: str, fix) -> None:
    from components.checkpoints.ctranslate2_whisper import CheckpointError, convert_ctranslate2_whisper

    def edit(variables: dict[str, np.ndarray]) -> None:
        variables[name] = np.ascontiguousarray(fix(variables[name]))

    source = write_ct2_dir(tmp_path / "ct2", original, edit=edit)
    with pytest.raises(CheckpointError, match=f"model.bin: {name} has shape"):
        convert_ctranslate2_whisper(source, tmp_path / "hf")


def test_an_unexpected_tensor_or_setting_is_named(tmp_path: Path, original) -> None:
    from components.checkpoints.ctranslate2_whisper import CheckpointError, convert_ctranslate2_whisper

    def extra(variables: dict[str, np.ndarray]) -> None:
        variables["encoder/layer_0/self_attention/relative_position_keys"] = np.zeros((3, 16), np.float32)

    source = write_ct2_dir(tmp_path / "extra", original, edit=extra)
    with pytest.raises(CheckpointError, match="unexpected tensor encoder/layer_0/self_attention/relative_"):
        convert_ctranslate2_whisper(source, tmp_path / "hf")
    source = write_ct2_dir(
        tmp_path / "relu", original, edit=lambda v: v.update({"decoder/activation": np.int8(0)})
    )
    with pytest.raises(CheckpointError, match="decoder/activation is 0, Whisper needs 3"):
        convert_ctranslate2_whisper(source, tmp_path / "hf2")


def test_reader_resolves_aliases_and_detection_tells_ct2_from_hf(tmp_path: Path, original) -> None:
    from components.checkpoints.ctranslate2_whisper import is_ctranslate2_whisper, read_ctranslate2_variables

    source = write_ct2_dir(tmp_path / "ct2", original, FLOAT16)
    spec, variables = read_ctranslate2_variables(source / "model.bin")
    written, _aliases = ct2_variables(original, FLOAT16)
    assert spec == "WhisperSpec"
    assert variables.keys() == written.keys() | {"decoder/projection/weight"}
    assert all(np.array_equal(variables[k], v) and variables[k].dtype == v.dtype for k, v in written.items())
    assert variables["decoder/projection/weight"] is variables["decoder/embeddings/weight"]

    assert is_ctranslate2_whisper(source)
    write_model_bin(source / "model.bin", {}, {}, spec="TransformerSpec")  # CTranslate2, but not Whisper
    assert not is_ctranslate2_whisper(source)
    original.save_pretrained(tmp_path / "hf")
    (tmp_path / "hf" / "model.bin").write_bytes(b"not ctranslate2")  # even with a model.bin beside it
    assert not is_ctranslate2_whisper(tmp_path / "hf")
    assert not is_ctranslate2_whisper(tmp_path / "nowhere")


def test_int8_weights_are_dequantized_with_their_row_scales(tmp_path: Path, original) -> None:
    import torch
    from transformers import AutoModel

    from components.checkpoints.ctranslate2_whisper import convert_ctranslate2_whisper

    def quantize(variables: dict[str, np.ndarray]) -> None:
        # CTranslate2's int8 scheme for linear, convolution and embedding weights: per output row,
        # scale = 127 / max|row|, values rounded (position encodings are never quantized)
        for name in [n for n in variables if n.endswith("/weight") and variables[n].ndim >= 2]:
            weight = variables[name]
            scale = (127.0 / np.abs(weight).reshape(len(weight), -1).max(axis=1)).astype(np.float32)
            variables[name] = np.rint(weight * scale.reshape(-1, *[1] * (weight.ndim - 1))).astype(np.int8)
            variables[name + "_scale"] = scale

    convert_ctranslate2_whisper(write_ct2_dir(tmp_path / "ct2", original, edit=quantize), tmp_path / "hf")
    got = AutoModel.from_pretrained(tmp_path / "hf", dtype=torch.float32).state_dict()
    for name, value in original.model.state_dict().items():
        if name.endswith(".weight") and value.ndim >= 2 and "embed_positions" not in name:
            rows = value.abs().flatten(1).amax(dim=1).reshape(-1, *[1] * (value.ndim - 1))
            assert torch.all((got[name] - value).abs() <= rows / 127 / 2 + 1e-6), name  # half a step
            assert not torch.equal(got[name], value), name  # it really went through int8
        else:
            assert torch.equal(got[name], value), name


def test_the_cascade_transcribes_in_float32_inside_a_bf16_evaluation(tmp_path: Path, original) -> None:
    import soundfile as sf

    from components.checkpoints.ctranslate2_whisper import convert_ctranslate2_whisper
    from components.compute import precision_scope
    from components.data.manifest import Utterance
    from components.evaluation.cascade import cascade_transcripts

    convert_ctranslate2_whisper(write_ct2_dir(tmp_path / "ct2", original), tmp_path / "hf")
    audio = np.random.default_rng(1).uniform(-0.5, 0.5, 16000).astype(np.float32)
    sf.write(tmp_path / "clip.wav", audio, 16000)
    clip = Utterance(
        id="u1", audio="clip.wav", language="eng", text="abc", duration_s=1.0, sample_rate=16000, split="test"
    )
    fp32 = cascade_transcripts(str(tmp_path / "hf"), [clip], tmp_path)
    with precision_scope("bf16"):  # evaluate.precision: bf16 surrounds the whole stage
        inside = cascade_transcripts(str(tmp_path / "hf"), [clip], tmp_path)
    assert inside == fp32 and set(inside) == {"u1"}


def test_the_cascade_lets_whisper_detect_a_language_it_has_no_token_for(original, capsys) -> None:
    from components.evaluation.cascade import known_language

    before = getattr(original.generation_config, "lang_to_id", None)
    original.generation_config.lang_to_id = {"<|en|>": 30, "<|fr|>": 31}
    try:
        assert known_language(original, "eng") == "en"
        assert known_language(original, "yue") is None  # Whisper-base has no <|yue|>
        assert "no <|yue|> token" in capsys.readouterr().out
    finally:
        original.generation_config.lang_to_id = before
