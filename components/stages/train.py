"""DVC stage ``train``: the adapter learns to make the frozen LLM answer speech as it answers text."""

from __future__ import annotations

import csv
import io
import json
import signal
import sys
from pathlib import Path

from components.atomic import atomic_directory, write_json, write_text
from components.compute import resolve_device, resolve_precision
from components.config import Params
from components.data.manifest import Utterance, read_manifest, read_rows
from components.data.state_store import load_states
from components.modeling.base_models import read_sources, read_sources_record
from components.modeling.encoder_states import encoder_key
from components.modeling.placement import place_model
from components.modeling.speech_llm import SpeechLLM
from components.run_records import split_record, write_run_record
from components.seeding import seed_everything
from components.stages.runner import run_stage
from components.training.checkpoint import Checkpointer, TrainingStopped, fingerprint
from components.training.distributed import World, join_world, leave_world
from components.training.plots import plot_loss
from components.training.trainer import Example, train_recipe
from components.workspace import ADAPTER_DIR, ENCODED_DIR, TARGET_DIR, VALIDATED_DIR

METRICS = Path("metrics/train.json")
# outside every DVC output: DVC sees one output (models/adapter); this folder is gone when train ends
CHECKPOINT_DIR = Path(".speechalign/checkpoints/train")
STOPPED_EXIT = 75  # EX_TEMPFAIL: stopped with a checkpoint; running again resumes
LOSS_LOG = Path("metrics/train_loss.csv")
LOSS_PLOT = Path("reports/train_loss.png")


def corpus_languages(manifests: dict[str, list[Utterance]]) -> list[str]:
    """The languages of the clips trained and measured on: the classes of a language-ID head.

    A language heard only in dev is a class that training never sees; that is said, not hidden.
    """
    by_split = {split: {u.language for u in rows} for split, rows in manifests.items()}
    unseen = sorted(by_split["dev"] - by_split["train"])
    if unseen:
        print(f"train: warning: dev languages {unseen} have no training clips")
    return sorted(set().union(*by_split.values()))


def load_examples(split: str, manifest: list[Utterance], encoder_sha256: str) -> list[Example]:
    """Pair each utterance's encoder states with its target row; a target without audio is an error."""
    utterances = {u.id: u for u in manifest}
    targets = read_rows(TARGET_DIR / f"{split}.jsonl")
    missing = [row["id"] for row in targets if row["id"] not in utterances]
    if missing:
        raise ValueError(f"{TARGET_DIR / f'{split}.jsonl'}: targets for unknown utterance ids {missing[:10]}")
    # a clip has several target rows (one per task or template): its states are loaded once, shared
    states = load_states(ENCODED_DIR, list(dict.fromkeys(row["id"] for row in targets)), encoder_sha256)
    return [
        Example(
            row["id"],
            states[row["id"]],
            row["instruction"],
            row["target"],
            row["task"],
            utterances[row["id"]].text,
            utterances[row["id"]].language,
        )
        for row in targets
    ]


def loss_csv(steps: list[dict[str, float]]) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=["step", "phase", "loss", "lr"], lineterminator="\n")
    writer.writeheader()
    writer.writerows(
        {"step": s["step"], "phase": s["phase"], "loss": f"{s['loss']:.6f}", "lr": f"{s['lr']:.8f}"}
        for s in steps
    )
    return buffer.getvalue()


def main(params: Params) -> None:
    """Train, and write the adapter, the loss log and plot and ``metrics/train.json``. Started by
    ``torchrun --nproc-per-node N -m components.stages.train``, N processes train data-parallel and
    the first writes the outputs (see :mod:`components.training.distributed`)."""
    world = join_world()
    try:
        train_stage(params, world)
    finally:
        leave_world(world)


def train_stage(params: Params, world: World) -> None:
    seed_everything(params.train.seed)
    train_params = params.train
    device = resolve_device(train_params.device, "train.device")  # before any model is loaded
    sources = read_sources()
    manifests = {split: read_manifest(split, VALIDATED_DIR) for split in ("train", "dev")}
    model = SpeechLLM.from_base(
        sources.encoder,
        sources.llm,
        train_params.adapter,
        train_params.lora,
        train_params.seed,
        sources.prompt_template,
        corpus_languages(manifests),
        system_prompt=sources.system_prompt,
    )
    key = encoder_key(model.speech.encoder, model.feature_extractor, model.speech.every_layer)
    train, dev = (load_examples(split, manifests[split], key) for split in ("train", "dev"))
    # after the key: it hashes the fp32 encoder
    place_model(model, device, train_params.precision, world.size if train_params.fsdp else 1)
    checkpoints = Checkpointer(
        CHECKPOINT_DIR,
        train_params.checkpoint_every,
        # device and precision as resolved here: ``auto`` is a GPU in bf16 on one worker, fp32 CPU on another
        fingerprint(
            train_params,
            train,
            key,
            json.dumps(read_sources_record(), sort_keys=True),
            device.type,
            resolve_precision(train_params.precision, device.type),
        ),
        world,
    )
    # a time limit or a scheduler's stop is a SIGTERM: save where training is, then stop
    signal.signal(signal.SIGTERM, lambda *_: checkpoints.request_stop())
    try:
        result = train_recipe(model, train, dev, train_params, checkpoints=checkpoints, world=world)
    except TrainingStopped as stopped:
        print(stopped, file=sys.stderr)
        raise SystemExit(STOPPED_EXIT) from None
    if not world.main:  # the ranks hold the same weights: one writes them
        return
    with atomic_directory(ADAPTER_DIR) as tmp:
        model.save_pretrained(tmp)
    write_text(LOSS_LOG, loss_csv(result.steps))
    plot_loss(result.steps, LOSS_PLOT)
    summary = {
        "recipe": params.recipe,
        **result.summary(),
        "trainable_parameters": sum(p.numel() for p in model.trainable_parameters()),
    }
    phases = [f"phases.{name}.seconds" for name in summary["phases"]]
    write_run_record("train", split_record(summary, ["train_seconds", *phases]))
    write_json(METRICS, summary)
    checkpoints.clear()  # every output is written: nothing is left to resume
    print(f"train: {summary}")


if __name__ == "__main__":
    run_stage("train", main)
