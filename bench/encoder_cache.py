"""Training steps with the frozen encoder in the loop against steps on stored encoder states.

Measured side by side in one process on a workspace whose ``encode`` stage has run (``make demo``
leaves one in ``.``; ``make real-demo`` one in ``.speechalign/real-demo``): the same batches, in the
order of one epoch, forward and backward through the recipe's objective. Prints seconds per step for
both, the epoch time each implies and their ratio; nothing here asserts a time.
Run: ``python -m bench.encoder_cache [WORKSPACE] [BATCHES]``.
"""

from __future__ import annotations

import dataclasses
import sys
import time
from pathlib import Path

import torch

from bench.training_batches import load_training


def main(workspace: Path = Path("."), batches: int = 4) -> None:
    from components.data.audio import load_audio
    from components.modeling.speech_llm import collate_features, extract_features
    from components.training.trainer import batch_loss

    setup = load_training(workspace, batches)
    model, params, examples, plan = setup.model, setup.params, setup.examples, setup.plan
    losses, settings, audio = setup.losses, setup.settings, setup.audio
    rate = model.feature_extractor.sampling_rate

    def step(batch, live: bool) -> None:
        if live:  # what every step did before the cache: decode, featurise, run the encoder on the batch
            features = [
                extract_features(model.feature_extractor, load_audio(audio[e.id], rate)) for e in batch
            ]
            encoder = model.speech.encoder
            with torch.no_grad():
                run = encoder.forward_layers if model.speech.every_layer else encoder
                states, mask = run(*collate_features(features))
            frames = mask.sum(dim=1).tolist()
            batch = [
                dataclasses.replace(e, states=states[..., i, : frames[i], :].numpy())
                for i, e in enumerate(batch)
            ]
        batch_loss(model, batch, losses, params.train, settings)["objective"].backward()
        model.zero_grad(set_to_none=True)

    model.train()
    step(plan[0], live=True)  # warm-up
    timings = {}
    for live in (True, False):
        start = time.perf_counter()
        for batch in plan:
            step(batch, live)
        timings[live] = (time.perf_counter() - start) / len(plan)
    epoch_steps = -(-len(examples) // params.train.batch_size)
    print(
        f"encoder cache, {Path.cwd()}: {len(examples)} training examples, batch {params.train.batch_size}, "
        f"{batches} steps measured, {torch.get_num_threads()} threads"
    )
    for live, label in ((True, "encoder in the loop"), (False, "stored states     ")):
        print(f"  {label}  {timings[live]:8.3f} s/step  epoch ≈ {timings[live] * epoch_steps / 60:7.1f} min")
    print(f"  speed-up of an epoch (in the loop / stored): {timings[True] / timings[False]:.2f}x")


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else Path("."), int(sys.argv[2]) if len(sys.argv) > 2 else 4)
