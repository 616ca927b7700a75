"""The vLLM side of ``targets.engine: vllm``, run as a script by the interpreter of an environment that
has vLLM (``targets.vllm_python``): vLLM pins its own torch and transformers, so it usually lives in an
environment of its own. Imports only the standard library and vLLM.

Protocol, one JSON object per line: the first line read is ``{"model", "dtype", "seed"}`` and is
answered ``{"ready": true}``; every later line is a batch ``{"prompts": [[token id, ...], ...],
"sampling": {SamplingParams fields}}``, answered ``{"token_ids": [[generated id, ...], ...]}`` in
prompt order. A failure is answered ``{"error": "..."}`` and ends the worker with status 1. Ends at
the end of its input.
"""

import json
import os
import sys

PROTOCOL = []  # the stream replies go to, opened by main()


def reply(message: dict) -> None:
    PROTOCOL[0].write(json.dumps(message) + "\n")
    PROTOCOL[0].flush()


def main() -> int:
    # the replies get a private copy of the pipe; whatever else writes to stdout (vLLM logs there, and
    # its engine process inherits the descriptor) goes to stderr, so no log line is read as a reply
    PROTOCOL.append(os.fdopen(os.dup(1), "w", buffering=1, encoding="utf-8"))
    os.dup2(2, 1)
    try:
        from vllm import LLM, SamplingParams
    except ImportError as exc:
        reply({"error": f"vllm is not importable by {sys.executable} ({exc})"})
        return 1
    config: dict = {}
    try:
        config = json.loads(sys.stdin.readline())
        llm = LLM(
            model=config["model"], tokenizer=config["model"], dtype=config["dtype"], seed=config["seed"]
        )
    except Exception as exc:  # the engine's own error, handed back as one line
        reply({"error": f"vllm could not load {config.get('model')}: {exc}"})
        return 1
    reply({"ready": True})
    for line in sys.stdin:
        batch = json.loads(line)
        try:
            prompts = [{"prompt_token_ids": ids} for ids in batch["prompts"]]
            outputs = llm.generate(prompts, SamplingParams(**batch["sampling"]), use_tqdm=False)
        except Exception as exc:
            reply({"error": f"vllm generate failed: {exc}"})
            return 1
        reply({"token_ids": [list(out.outputs[0].token_ids) for out in outputs]})
    return 0


if __name__ == "__main__":
    sys.exit(main())
