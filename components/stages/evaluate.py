"""DVC stage ``evaluate``: zero-shot tasks from speech, beside two controls and the text ceiling."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from components.atomic import write_json, write_text
from components.compute import precision_scope
from components.config import Params
from components.data.manifest import DATA_ROOT, read_manifest, read_rows, write_rows
from components.data.state_store import load_states
from components.evaluation.behaviour import behaviour_agreement, format_behaviour
from components.evaluation.cascade import cascade_transcripts, has_speech_decoder
from components.evaluation.plots import plot_evaluation
from components.evaluation.transfer import format_markdown, transfer_summary
from components.evaluation.wordings import choose_wordings, chosen_params, format_choices, unmeasurable_tasks
from components.evaluation.zero_shot import (
    answer,
    build_queries,
    check_zero_shot,
    constrained_intents,
    prediction_rows,
    score,
    shuffled_partners,
)
from components.modeling.encoder_states import encoder_key
from components.modeling.speech_llm import SpeechLLM
from components.seeding import seed_everything
from components.stages.runner import run_stage
from components.workspace import ADAPTER_DIR, ENCODED_DIR, TARGET_DIR, VALIDATED_DIR

METRICS = Path("metrics/eval.json")
PREDICTIONS = Path("reports/eval/predictions.jsonl")
TRANSFER_REPORT = Path("reports/eval/transfer.md")


@dataclass(frozen=True)
class EvalOutputs:
    """Where an evaluation writes (relative to the workspace): the stage's DVC outputs by default."""

    metrics: Path = METRICS
    predictions: Path = PREDICTIONS
    transfer: Path = TRANSFER_REPORT


def main(params: Params) -> None:
    seed_everything(params.train.seed)
    with precision_scope(params.evaluate.precision):
        evaluate(params)


def evaluate(
    params: Params, trained: SpeechLLM | None = None, out: EvalOutputs = EvalOutputs()
) -> dict[str, Any]:
    """Choose wordings on dev text, answer every test query under every condition, write the reports
    and return the metrics. ``trained`` defaults to the workspace's own adapter (the DVC stage); a
    registered version passed here is scored on the same split by the same code (``speechalign
    evaluate --model``), its reports written to ``out``.

    Raises:
        ValueError: no task is measurable from text on dev, or a query's wording was trained on.
    """
    utterances = read_manifest(params.evaluate.split, VALIDATED_DIR)
    training = {row["instruction"] for row in read_rows(TARGET_DIR / "train.jsonl")}
    trained = trained if trained is not None else SpeechLLM.from_pretrained(ADAPTER_DIR)
    # wordings and the text ceiling come from dev transcripts, before any speech is scored
    choices = choose_wordings(trained, read_manifest("dev", VALIDATED_DIR), params.evaluate, training)
    unscored = unmeasurable_tasks(choices)
    queries = [
        q
        for q in build_queries(utterances, chosen_params(params.evaluate, choices))
        if q.task not in unscored
    ]
    if not queries:
        raise ValueError(
            "evaluate: no task is measurable from text on dev, so none is scored: "
            + "; ".join(format_choices(choices))
        )
    if params.evaluate.split == "dev" and choices:
        print("evaluate: warning: the wordings were chosen on the dev split that is also scored")
    check_zero_shot(queries, training)
    models = {"trained": trained, "untrained": trained.untrained(params.train.seed)}
    key = encoder_key(trained.speech.encoder, trained.feature_extractor, trained.speech.every_layer)
    states = load_states(ENCODED_DIR, [u.id for u in utterances], key)
    partners = shuffled_partners(utterances, params.evaluate.shuffle_seed)
    encoder = trained.sources["encoder"]
    transcripts = (
        cascade_transcripts(encoder, utterances, DATA_ROOT, params.evaluate.batch_size)
        if has_speech_decoder(encoder)
        else None
    )
    outputs = answer(models, queries, states, partners, params.evaluate, transcripts=transcripts)
    constrained = constrained_intents(models, queries, states)
    report = score(queries, outputs, constrained)
    behaviour = behaviour_agreement(models, utterances, states, params.targets.instruction, params.evaluate)
    transfer = transfer_summary(report, queries, outputs, params.evaluate.shuffle_seed)
    markdown = (
        "\n".join([*format_choices(choices), "", format_markdown(transfer, report)])
        if choices
        else format_markdown(transfer, report)
    )
    if behaviour:
        markdown += "\n" + format_behaviour(behaviour) + "\n"
    write_rows(out.predictions, prediction_rows(queries, outputs | constrained))
    write_text(out.transfer, markdown)
    plot_evaluation(report, queries, outputs, out.predictions.parent)
    metrics = {
        "recipe": params.recipe,
        "split": params.evaluate.split,
        **report,
        "transfer": transfer,
        "behaviour": behaviour,
        "wordings": {task: choice.to_json() for task, choice in choices.items()},
    }
    write_json(out.metrics, metrics)
    print(
        f"evaluate: zero-shot transfer on the {params.evaluate.split} split ({len(utterances)} utterances)\n"
    )
    print(markdown)
    return metrics


if __name__ == "__main__":
    run_stage("evaluate", main)
