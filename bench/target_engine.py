"""The target-generation engine against Hugging Face ``generate`` one utterance at a time.

Measured side by side in one process on a workspace whose ``validate`` stage has run (``make demo``
leaves one in ``.``; ``make real-demo`` one in ``.speechalign/real-demo``): the first ``UTTERANCES``
training transcripts, continued by the frozen LLM after the workspace's ``targets.instruction`` in its
``targets.precision``. The engine (:func:`components.targets.generation.greedy_outputs`) decodes
left-padded batches of ``targets.batch_size`` bucketed by length with the KV cache; the baseline
calls the LLM's ``generate`` on one prompt at a time, unpadded, with the same greedy settings and end
tokens. Prints both rates in generated tokens per second, their ratio and how many outputs are the
same; nothing here asserts a time.
Run: ``python -m bench.target_engine [WORKSPACE] [UTTERANCES]``.
"""

from __future__ import annotations

import time
from pathlib import Path

import torch

from bench.training_batches import report, workspace_and_count, workspace_model


def main(workspace: Path = Path("."), utterances: int = 96) -> None:
    from components.compute import precision_scope
    from components.targets.generation import Request, greedy_outputs

    model, params, manifests = workspace_model(workspace)
    model.eval()
    t = params.targets
    requests = [Request(u.id, t.instruction, u.text) for u in manifests["train"][:utterances]]

    def engine() -> list[str]:
        return greedy_outputs(model, requests, t.max_new_tokens, t.batch_size, progress=False)

    def one_by_one() -> list[str]:
        return [
            model.generate([r.instruction], model.text_slots([r.text]), t.max_new_tokens)[0] for r in requests
        ]

    timings, outputs = {}, {}
    with precision_scope(t.precision):
        greedy_outputs(model, requests[: t.batch_size], t.max_new_tokens, t.batch_size, progress=False)
        for name, run in (("one by one", one_by_one), ("engine", engine)):
            start = time.perf_counter()
            outputs[name] = run()
            timings[name] = time.perf_counter() - start
    tokens = {
        name: sum(len(model.tokenizer(text, add_special_tokens=False).input_ids) for text in texts)
        for name, texts in outputs.items()
    }
    same = sum(a == b for a, b in zip(outputs["engine"], outputs["one by one"], strict=True))
    report(
        f"target engine, {Path.cwd()}: {len(requests)} transcripts, batch {t.batch_size}, at most "
        f"{t.max_new_tokens} new tokens, precision {t.precision}, {torch.get_num_threads()} threads",
        {n: f"{timings[n]:8.2f} s  {tokens[n] / timings[n]:9.1f} generated tokens/s" for n in timings},
        "speed-up (one by one / engine)",
        timings["one by one"] / timings["engine"],
        ">= 8x",
        [f"same text: {same} of {len(requests)}"],
    )


if __name__ == "__main__":
    main(*workspace_and_count(96))
