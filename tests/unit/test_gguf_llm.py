"""GGUF → HF conversion, on tiny llamas written to GGUF here the way llama.cpp's converter writes them."""

from __future__ import annotations

import json
from pathlib import Path

import gguf
import numpy as np
import pytest
import torch

from components.checkpoints.errors import CheckpointError
from components.checkpoints.gguf_llm import (
    LOGIT_TOLERANCE,
    check_gguf_conversion,
    convert_gguf_llm,
    is_gguf,
)

TEMPLATE = (
    "{% for message in messages %}<|im_start|>{{ message['role'] }}\n{{ message['content'] }}<|im_end|>\n"
    "{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)
SPECIALS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
MERGES = ["Ġ t", "h e", "Ġt he", "i s", "a t"]
HEADS, KV_HEADS, LAYERS, HIDDEN = 4, 2, 2, 32
# HF parameter (less layer prefix and ".weight") → llama.cpp tensor name
GGUF_NAMES = {
    "model.embed_tokens": "token_embd",
    "model.norm": "output_norm",
    "lm_head": "output",
    "self_attn.q_proj": "attn_q",
    "self_attn.k_proj": "attn_k",
    "self_attn.v_proj": "attn_v",
    "self_attn.o_proj": "attn_output",
    "mlp.gate_proj": "ffn_gate",
    "mlp.up_proj": "ffn_up",
    "mlp.down_proj": "ffn_down",
    "input_layernorm": "attn_norm",
    "post_attention_layernorm": "ffn_norm",
}


def byte_level_vocab() -> list[str]:
    """Specials, the 256 byte symbols of GPT-2's byte-level BPE (so any text encodes), the merges."""
    from transformers.convert_slow_tokenizer import bytes_to_unicode

    symbols = bytes_to_unicode()
    return SPECIALS + [symbols[b] for b in range(256)] + [m.replace(" ", "") for m in MERGES]


def gguf_name(hf_name: str) -> str:
    base = hf_name.removesuffix(".weight")
    if base in GGUF_NAMES:
        return GGUF_NAMES[base] + ".weight"
    _, _, layer, rest = base.split(".", 3)  # model.layers.N.rest
    return f"blk.{layer}.{GGUF_NAMES[rest]}.weight"


def llama_cpp_permute(weights: np.ndarray, heads: int) -> np.ndarray:
    """llama.cpp's q/k row order for its rotary kernel (convert_hf_to_gguf.py, LlamaModel.permute)."""
    return (
        weights.reshape(heads, 2, weights.shape[0] // heads // 2, *weights.shape[1:])
        .swapaxes(1, 2)
        .reshape(weights.shape)
    )


def encode(array: np.ndarray, precision: str) -> tuple[np.ndarray, gguf.GGMLQuantizationType | None]:
    """The tensor bytes and ggml type for ``precision``; norms (1-D) stay F32 as llama.cpp keeps them."""
    kind = gguf.GGMLQuantizationType
    if precision == "f32" or array.ndim == 1:
        return array, None
    if precision == "f16":
        return array.astype(np.float16), None
    if precision == "bf16":  # numpy has no bfloat16: the upper half of each float32, rounded
        return torch.from_numpy(array).to(torch.bfloat16).view(torch.int16).numpy(), kind.BF16
    return gguf.quants.quantize(array, kind.Q8_0), kind.Q8_0


def write_tiny_gguf(
    path: Path,
    *,
    tied: bool = True,
    precision: str = "f32",
    skip: tuple[str, ...] = (),
    eos: str = "<|im_end|>",
    architecture: str = "llama",
    seed: int = 0,
) -> torch.nn.Module:
    """A random tiny Llama written to ``path`` as llama.cpp would; returns the HF model it came from."""
    from transformers import LlamaConfig, LlamaForCausalLM

    tokens = byte_level_vocab()
    config = LlamaConfig(
        vocab_size=len(tokens),
        hidden_size=HIDDEN,
        intermediate_size=64,
        num_hidden_layers=LAYERS,
        num_attention_heads=HEADS,
        num_key_value_heads=KV_HEADS,
        max_position_embeddings=128,
        rms_norm_eps=1e-5,
        rope_theta=10000.0,
        tie_word_embeddings=tied,
    )
    torch.manual_seed(seed)
    model = LlamaForCausalLM(config).eval()
    with torch.no_grad():  # norms start at 1.0; random ones make a norm mix-up visible
        for name, param in model.named_parameters():
            if name.endswith("norm.weight"):
                param.uniform_(0.5, 1.5)

    writer = gguf.GGUFWriter(path, architecture)
    writer.add_name("tiny-llama")
    writer.add_block_count(LAYERS)
    writer.add_context_length(128)
    writer.add_embedding_length(HIDDEN)
    writer.add_feed_forward_length(64)
    writer.add_head_count(HEADS)
    writer.add_head_count_kv(KV_HEADS)
    writer.add_rope_freq_base(10000.0)
    writer.add_layer_norm_rms_eps(1e-5)
    writer.add_rope_dimension_count(HIDDEN // HEADS)
    writer.add_vocab_size(len(tokens))
    writer.add_tokenizer_model("gpt2")
    writer.add_tokenizer_pre("default")
    writer.add_token_list(tokens)
    control, normal = gguf.TokenType.CONTROL, gguf.TokenType.NORMAL
    writer.add_token_types([control] * len(SPECIALS) + [normal] * (len(tokens) - len(SPECIALS)))
    writer.add_token_merges(MERGES)
    writer.add_bos_token_id(tokens.index("<|im_start|>"))
    writer.add_eos_token_id(tokens.index(eos))
    writer.add_unk_token_id(tokens.index("<|endoftext|>"))
    writer.add_add_bos_token(False)
    writer.add_chat_template(TEMPLATE)
    for name, tensor in model.state_dict().items():
        if (tied and name == "lm_head.weight") or gguf_name(name) in skip:
            continue
        array = tensor.numpy()
        if ".q_proj." in name:
            array = llama_cpp_permute(array, HEADS)
        elif ".k_proj." in name:
            array = llama_cpp_permute(array, KV_HEADS)
        data, raw_dtype = encode(np.ascontiguousarray(array), precision)
        writer.add_tensor(gguf_name(name), data, raw_dtype=raw_dtype)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return model


def saved_tensors(out: Path) -> dict[str, torch.Tensor]:
    from safetensors.torch import load_file

    return load_file(out / "model.safetensors")


@pytest.fixture(scope="module")
def converted(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, torch.nn.Module]:
    """(GGUF file, converted dir, the HF model the GGUF was written from): tied, f32."""
    folder = tmp_path_factory.mktemp("gguf")
    source = folder / "tiny.gguf"
    model = write_tiny_gguf(source)
    convert_gguf_llm(source, folder / "out")
    return source, folder / "out", model


def test_is_gguf(tmp_path: Path, converted: tuple[Path, Path, torch.nn.Module]) -> None:
    text = tmp_path / "notes.gguf"
    text.write_text("not GGUF at all", encoding="utf-8")
    assert is_gguf(converted[0])
    assert not is_gguf(text)
    assert not is_gguf(tmp_path)  # a directory
    assert not is_gguf(tmp_path / "absent.gguf")


@pytest.mark.parametrize("tied", [True, False], ids=["tied", "untied"])
def test_converted_params_equal_gguf_tensors(tmp_path: Path, tied: bool) -> None:
    from transformers import AutoModelForCausalLM

    source = tmp_path / "tiny.gguf"
    original = write_tiny_gguf(source, tied=tied)
    convert_gguf_llm(source, tmp_path / "out")

    config = json.loads((tmp_path / "out" / "config.json").read_text(encoding="utf-8"))
    assert "quantization_config" not in config
    assert config["tie_word_embeddings"] is tied
    # q/k come back in HF's row order: compared with the model before llama.cpp's permutation
    reloaded = AutoModelForCausalLM.from_pretrained(tmp_path / "out", dtype=torch.float32).state_dict()
    expected = original.state_dict()
    assert reloaded.keys() == expected.keys()
    for name, tensor in expected.items():
        assert torch.equal(reloaded[name], tensor), name
    on_disk = saved_tensors(tmp_path / "out")
    assert {t.dtype for t in on_disk.values()} == {torch.float32}
    assert ("lm_head.weight" in on_disk) is not tied


@pytest.mark.parametrize(
    ("precision", "saved"),
    [("f16", torch.float16), ("bf16", torch.bfloat16), ("q8_0", torch.bfloat16)],
)
def test_saved_precision_follows_source(tmp_path: Path, precision: str, saved: torch.dtype) -> None:
    source = tmp_path / "tiny.gguf"
    write_tiny_gguf(source, precision=precision)
    convert_gguf_llm(source, tmp_path / "out")

    assert {t.dtype for t in saved_tensors(tmp_path / "out").values()} == {saved}
    assert check_gguf_conversion(source, tmp_path / "out") >= 0.0


def test_chat_template_tokenizer_and_stop_tokens_survive(
    converted: tuple[Path, Path, torch.nn.Module],
) -> None:
    from transformers import AutoTokenizer, GenerationConfig

    source, out, _ = converted
    tokenizer = AutoTokenizer.from_pretrained(out)
    reference = AutoTokenizer.from_pretrained(source.parent, gguf_file=source.name)
    chat = [{"role": "user", "content": "is the cat at home?"}]

    assert tokenizer.chat_template == TEMPLATE
    rendered = tokenizer.apply_chat_template(chat, tokenize=False, add_generation_prompt=True)
    assert rendered == "<|im_start|>user\nis the cat at home?<|im_end|>\n<|im_start|>assistant\n"
    assert tokenizer(rendered)["input_ids"] == reference(rendered)["input_ids"]
    im_end = tokenizer.convert_tokens_to_ids("<|im_end|>")
    assert tokenizer(rendered)["input_ids"].count(im_end) == 1  # a special token, kept whole
    generation = GenerationConfig.from_pretrained(out)
    assert tokenizer.eos_token == "<|im_end|>" and generation.eos_token_id == im_end
    assert generation.pad_token_id == tokenizer.pad_token_id == im_end


def test_template_end_of_turn_joins_eos(tmp_path: Path) -> None:
    from transformers import AutoTokenizer, GenerationConfig

    # the file's eos is <|endoftext|>, but its chat template ends every turn with <|im_end|>
    source = tmp_path / "tiny.gguf"
    write_tiny_gguf(source, eos="<|endoftext|>")
    convert_gguf_llm(source, tmp_path / "out")

    tokenizer = AutoTokenizer.from_pretrained(tmp_path / "out")
    ids = tokenizer.convert_tokens_to_ids(["<|endoftext|>", "<|im_end|>"])
    assert GenerationConfig.from_pretrained(tmp_path / "out").eos_token_id == ids


def test_check_passes_on_the_conversion(converted: tuple[Path, Path, torch.nn.Module]) -> None:
    source, out, _ = converted
    assert check_gguf_conversion(source, out) <= LOGIT_TOLERANCE["float32"]


def test_check_catches_changed_weights(tmp_path: Path) -> None:
    from safetensors.torch import save_file

    source = tmp_path / "tiny.gguf"
    write_tiny_gguf(source)
    out = tmp_path / "out"
    convert_gguf_llm(source, out)
    tensors = saved_tensors(out)
    tensors["model.layers.1.mlp.down_proj.weight"] = tensors["model.layers.1.mlp.down_proj.weight"] * 3
    save_file(tensors, out / "model.safetensors", metadata={"format": "pt"})

    with pytest.raises(CheckpointError, match="logits differ"):
        check_gguf_conversion(source, out)


def test_not_gguf_raises_naming_the_file(tmp_path: Path) -> None:
    source = tmp_path / "model.gguf"
    source.write_bytes(b"PK\x03\x04 a zip, not a GGUF" * 10)
    with pytest.raises(CheckpointError, match=f"^{source}: not a GGUF file"):
        convert_gguf_llm(source, tmp_path / "out")
    with pytest.raises(CheckpointError, match=str(source)):
        check_gguf_conversion(source, tmp_path / "out")


@pytest.mark.parametrize("kept", [0.02, 0.5, 0.95, 0.999])
def test_truncated_gguf_raises_naming_the_file(tmp_path: Path, kept: float) -> None:
    whole = tmp_path / "whole.gguf"
    write_tiny_gguf(whole)
    data = whole.read_bytes()
    source = tmp_path / "cut.gguf"
    source.write_bytes(data[: int(len(data) * kept)])

    with pytest.raises(CheckpointError, match=f"^{source}: truncated") as raised:
        convert_gguf_llm(source, tmp_path / "out")
    assert "\n" not in str(raised.value)
    assert not (tmp_path / "out").exists()


def test_missing_tensor_raises_naming_the_parameter(tmp_path: Path) -> None:
    source = tmp_path / "tiny.gguf"
    write_tiny_gguf(source, skip=("blk.1.ffn_norm.weight",))
    with pytest.raises(
        CheckpointError, match=r"lacks parameters: model\.layers\.1\.post_attention_layernorm"
    ):
        convert_gguf_llm(source, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_unknown_architecture_raises_naming_the_file(tmp_path: Path) -> None:
    source = tmp_path / "tiny.gguf"
    write_tiny_gguf(source, architecture="nosucharch")
    with pytest.raises(CheckpointError, match=f"^{source}: transformers cannot"):
        convert_gguf_llm(source, tmp_path / "out")
