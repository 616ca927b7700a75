"""A stand-in for vLLM's offline API (``LLM``, ``SamplingParams``) built on transformers, so the vLLM
worker's protocol is tested where vLLM is not installed: greedy decoding of token-id prompts, one at
a time, stopping on the requested end tokens. Only what the worker calls exists."""

from dataclasses import dataclass, field
from types import SimpleNamespace

import torch
from transformers import AutoModelForCausalLM


@dataclass
class SamplingParams:
    temperature: float = 1.0
    max_tokens: int = 16
    stop_token_ids: list[int] = field(default_factory=list)
    repetition_penalty: float = 1.0


class LLM:
    def __init__(self, model: str, tokenizer: str, dtype: str, seed: int) -> None:
        print(f"INFO loading {model}")  # as vLLM logs to stdout: the worker must not read it as a reply
        self.model = AutoModelForCausalLM.from_pretrained(model, dtype=getattr(torch, dtype)).eval()

    def generate(self, prompts: list[dict], sampling: SamplingParams, use_tqdm: bool = True) -> list:
        if sampling.temperature != 0.0:
            raise ValueError("this stand-in decodes greedily only")
        outputs = []
        for prompt in prompts:
            ids = torch.tensor([prompt["prompt_token_ids"]])
            with torch.no_grad():
                out = self.model.generate(
                    ids,
                    attention_mask=torch.ones_like(ids),
                    max_new_tokens=sampling.max_tokens,
                    do_sample=False,
                    num_beams=1,
                    repetition_penalty=sampling.repetition_penalty,
                    eos_token_id=sampling.stop_token_ids,
                    pad_token_id=sampling.stop_token_ids[0],
                )
            completion = SimpleNamespace(token_ids=out[0, ids.shape[1] :].tolist())
            outputs.append(SimpleNamespace(outputs=[completion]))
        return outputs
