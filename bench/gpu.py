"""The GPU check: adapter training in bf16 at a realistic size, and target generation batched against
one prompt at a time. One command, under 8 minutes on one H100/H200-class GPU:

    python -m bench.gpu            # on the GPU machine
    python -m bench.gpu --smoke    # tiny sizes, any CPU: what the test runs

Sizes: a Whisper-small-sized encoder (12 layers, d_model 768, 80 mel bins, 30 s windows) and a
1.24B-parameter LLM of Llama 3.2 1B's shape (16 layers, hidden 2048, 32 heads, 8 key/value heads, FFN
8192, vocab 128,256, tied embeddings), random weights (the speed does not depend on them), frozen
and in bf16 on the GPU; the project's BLSP adapter (``components.modeling.adapters``) trains in fp32
under bf16 autocast, with AdamW, the gradient reaching it through the frozen LLM as in every recipe.

Printed: step time, LLM tokens per second, peak GPU memory and model FLOPs utilisation (MFU: the
step's model FLOPs over the GPU's peak dense bf16 FLOPs), then generation tokens per second of greedy
decoding in batches against ``generate`` one prompt at a time, with how many outputs agree.

Model FLOPs per step (Kaplan et al. 2020; Chowdhery et al. 2022, appendix B): the frozen encoder's
forward ``2·P_enc·T_enc``; the LLM's forward ``2·P_llm·T`` plus its backward for activations only
(its weights are frozen) ``2·P_llm·T``; attention's ``T²`` terms and the adapter are left out (a few
per cent at these lengths), so the MFU is a slight underestimate.

The GPU machine has torch, transformers, peft, safetensors and tokenizers, and neither the registry
nor the orchestrator: this file imports only torch, transformers and the adapter's own modules.
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import dataclass

import torch

# dense bf16 tensor-core peaks, FLOP/s, by the device name torch reports (vendor data sheets)
PEAK_BF16 = {"H200": 989e12, "H100": 989e12, "A100": 312e12, "L40S": 362e12, "L4": 121e12}
FORBIDDEN = ("mlflow", "prefect", "dvc", "great_expectations", "pydantic", "vllm", "onnxruntime")


@dataclass(frozen=True)
class Sizes:
    """The encoder's and the LLM's transformers config fields, and the work of the timed runs."""

    encoder: dict  # WhisperConfig fields (80 mel bins, the default)
    llm: dict  # LlamaConfig fields
    frames: int  # log-mel frames per clip (Whisper: 3000 per 30 s)
    batch: int
    prompt_tokens: int
    target_tokens: int
    steps: int
    gen_prompts: int
    gen_new_tokens: int


WHISPER_SMALL = {"d_model": 768, "encoder_layers": 12, "encoder_attention_heads": 12, "encoder_ffn_dim": 3072}
LLAMA_1B = {"hidden_size": 2048, "num_hidden_layers": 16, "num_attention_heads": 32, "num_key_value_heads": 8}
FULL = Sizes(
    WHISPER_SMALL, {**LLAMA_1B, "intermediate_size": 8192, "vocab_size": 128256}, 3000, 8, 32, 64, 12, 64, 64
)
TINY_ENCODER = {"d_model": 64, "encoder_layers": 2, "encoder_attention_heads": 4, "encoder_ffn_dim": 128}
TINY_LLM = {"hidden_size": 64, "num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 2}
SMOKE = Sizes(TINY_ENCODER, {**TINY_LLM, "intermediate_size": 128, "vocab_size": 512}, 400, 2, 8, 8, 2, 4, 6)


def build(sizes: Sizes, device: torch.device) -> tuple[torch.nn.Module, torch.nn.Module, torch.nn.Module]:
    """(frozen encoder, frozen LLM, trainable BLSP adapter) at ``sizes`` with random weights."""
    from transformers import LlamaConfig, LlamaForCausalLM, WhisperConfig
    from transformers.models.whisper.modeling_whisper import WhisperEncoder

    from components.modeling.adapters import BlspAdapter, BlspAdapterConfig

    frozen_dtype = torch.bfloat16 if device.type == "cuda" else torch.float32
    torch.manual_seed(0)
    encoder = WhisperEncoder(WhisperConfig(**sizes.encoder, max_source_positions=sizes.frames // 2))
    llm = LlamaForCausalLM(LlamaConfig(**sizes.llm, max_position_embeddings=4096, tie_word_embeddings=True))
    for frozen in (encoder, llm):
        frozen.to(device=device, dtype=frozen_dtype).eval().requires_grad_(False)
    config = BlspAdapterConfig(input_size=sizes.encoder["d_model"], output_size=sizes.llm["hidden_size"])
    adapter = BlspAdapter(config).to(device)
    return encoder, llm, adapter


def parameters(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def synchronise(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def train_steps(sizes: Sizes, device: torch.device, encoder, llm, adapter) -> dict[str, float]:  # noqa: ANN001
    """Timed adapter training steps (after one warm-up step): seconds per step, tokens/s, peak memory."""
    generator = torch.Generator(device="cpu").manual_seed(1)
    mel_bins = encoder.config.num_mel_bins
    features = torch.randn(sizes.batch, mel_bins, sizes.frames, generator=generator).to(device)
    prompt = torch.randint(
        0, sizes.llm["vocab_size"], (sizes.batch, sizes.prompt_tokens), generator=generator
    ).to(device)
    target = torch.randint(
        0, sizes.llm["vocab_size"], (sizes.batch, sizes.target_tokens), generator=generator
    ).to(device)
    optimiser = torch.optim.AdamW(adapter.parameters(), lr=1e-4)
    table = llm.get_input_embeddings()
    tokens = 0

    def step() -> int:
        with torch.autocast(device.type, dtype=torch.bfloat16):
            with torch.no_grad():
                states = encoder(features.to(table.weight.dtype)).last_hidden_state
            mask = torch.ones(states.shape[:2], dtype=torch.long, device=device)
            speech = adapter(states.float(), mask).embeds
            embeds = torch.cat([table(prompt), speech.to(table.weight.dtype), table(target)], dim=1)
            logits = llm(inputs_embeds=embeds, use_cache=False).logits[:, -sizes.target_tokens - 1 : -1]
            loss = torch.nn.functional.cross_entropy(logits.float().flatten(0, 1), target.flatten())
        optimiser.zero_grad(set_to_none=True)
        loss.backward()
        optimiser.step()
        return embeds.shape[0] * embeds.shape[1]

    step()  # warm-up: kernels chosen, memory pools grown
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    synchronise(device)
    start = time.perf_counter()
    for _ in range(sizes.steps):
        tokens += step()
    synchronise(device)
    seconds = (time.perf_counter() - start) / sizes.steps
    llm_tokens = tokens / sizes.steps
    encoder_tokens = sizes.batch * sizes.frames / 2  # Whisper's stride-2 convolution halves the frames
    flops = 2 * parameters(encoder) * encoder_tokens + 4 * parameters(llm) * llm_tokens
    peak = torch.cuda.max_memory_allocated(device) if device.type == "cuda" else 0
    return {
        "step_seconds": seconds,
        "llm_tokens_per_second": llm_tokens / seconds,
        "model_flops_per_step": flops,
        "peak_memory_gib": peak / 2**30,
    }


def generation(sizes: Sizes, device: torch.device, llm) -> dict[str, float]:  # noqa: ANN001
    """Greedy decoding of ``gen_prompts`` prompts: all in one left-padded batch, then one at a time."""
    generator = torch.Generator(device="cpu").manual_seed(2)
    lengths = [sizes.prompt_tokens + (3 * i) % 7 for i in range(sizes.gen_prompts)]
    prompts = [torch.randint(1, sizes.llm["vocab_size"], (n,), generator=generator) for n in lengths]
    settings = {
        "max_new_tokens": sizes.gen_new_tokens,
        "min_new_tokens": sizes.gen_new_tokens,  # random weights never stop early: equal work each way
        "do_sample": False,
        "num_beams": 1,
        "pad_token_id": 0,
    }
    width = max(lengths)
    ids = torch.zeros(len(prompts), width, dtype=torch.long)
    attention = torch.zeros(len(prompts), width, dtype=torch.long)
    for row, prompt in enumerate(prompts):  # left padding: every row's last token is its own
        ids[row, width - len(prompt) :] = prompt
        attention[row, width - len(prompt) :] = 1

    with torch.no_grad(), torch.autocast(device.type, dtype=torch.bfloat16):
        llm.generate(input_ids=ids[:1].to(device), attention_mask=attention[:1].to(device), **settings)
        synchronise(device)
        start = time.perf_counter()
        batched = llm.generate(input_ids=ids.to(device), attention_mask=attention.to(device), **settings)
        synchronise(device)
        batched_s = time.perf_counter() - start
        start = time.perf_counter()
        single = [llm.generate(input_ids=p[None].to(device), **settings)[0, len(p) :] for p in prompts]
        synchronise(device)
        single_s = time.perf_counter() - start
    new = sizes.gen_prompts * sizes.gen_new_tokens
    agree = sum(torch.equal(a[width:].cpu(), b.cpu()) for a, b in zip(batched, single, strict=True))
    return {
        "batched_tokens_per_second": new / batched_s,
        "one_by_one_tokens_per_second": new / single_s,
        "speedup": single_s / batched_s,
        "same_outputs": agree,
    }


def peak_flops(device: torch.device) -> float | None:
    if device.type != "cuda":
        return None
    name = torch.cuda.get_device_name(device)
    return next((flops for key, flops in PEAK_BF16.items() if key in name), None)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="tiny sizes, runs on a CPU in seconds")
    parser.add_argument(
        "--device", default="auto", choices=["auto", "cpu", "cuda"], help="auto: CUDA if present"
    )
    args = parser.parse_args(argv)
    if args.device == "cuda" and not torch.cuda.is_available():
        parser.error("--device cuda: torch sees no CUDA device here")
    device = torch.device(
        ("cuda" if torch.cuda.is_available() else "cpu") if args.device == "auto" else args.device
    )
    sizes = SMOKE if args.smoke else FULL
    encoder, llm, adapter = build(sizes, device)
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu"
    print(
        f"device {name}; encoder {parameters(encoder) / 1e6:.1f} M, LLM {parameters(llm) / 1e9:.3f} B, "
        f"adapter {parameters(adapter) / 1e6:.1f} M parameters; batch {sizes.batch}, "
        f"{sizes.frames / 100:.0f} s clips"
    )
    train = train_steps(sizes, device, encoder, llm, adapter)
    peak = peak_flops(device)
    mfu = train["model_flops_per_step"] / train["step_seconds"] / peak if peak else None
    print(
        f"train: {train['step_seconds'] * 1000:.1f} ms/step, "
        f"{train['llm_tokens_per_second']:.0f} LLM tokens/s, "
        f"peak memory {train['peak_memory_gib']:.2f} GiB, "
        f"MFU {'n/a (no known peak for this device)' if mfu is None else f'{100 * mfu:.1f}%'}"
    )
    gen = generation(sizes, device, llm)
    print(
        f"generate: batched {gen['batched_tokens_per_second']:.0f} tokens/s, one by one "
        f"{gen['one_by_one_tokens_per_second']:.0f} tokens/s ({gen['speedup']:.1f}x), "
        f"{gen['same_outputs']}/{sizes.gen_prompts} outputs the same"
    )
    loaded = sorted(m for m in FORBIDDEN if m in sys.modules)
    print(f"modules the GPU image lacks, loaded: {loaded or 'none'}")
    return 1 if loaded else 0


if __name__ == "__main__":
    raise SystemExit(main())
