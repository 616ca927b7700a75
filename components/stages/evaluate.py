"""DVC stage ``evaluate``: zero-shot ASR and speech translation, speech input beside text input."""

from __future__ import annotations

from pathlib import Path

from components.atomic import write_json
from components.config import Params
from components.data.features import utterance_features
from components.data.manifest import DATA_ROOT, read_manifest, write_rows
from components.evaluation.zero_shot import answer, build_queries, check_zero_shot, prediction_rows, score
from components.modeling.speech_llm import SpeechLLM
from components.seeding import seed_everything
from components.stages.runner import run_stage
from components.workspace import ADAPTER_DIR, VALIDATED_DIR

METRICS = Path("metrics/eval.json")
PREDICTIONS = Path("reports/eval/predictions.jsonl")


def main(params: Params) -> None:
    seed_everything(params.train.seed)
    check_zero_shot(params.evaluate, {params.targets.instruction})
    model = SpeechLLM.from_pretrained(ADAPTER_DIR)
    utterances = read_manifest(params.evaluate.split, VALIDATED_DIR)
    features = dict(
        zip(
            (u.id for u in utterances),
            utterance_features(model.feature_extractor, utterances, DATA_ROOT),
            strict=True,
        )
    )
    queries = build_queries(utterances, params.evaluate)
    outputs = answer(model, queries, features, params.evaluate)
    report = score(queries, outputs)
    write_rows(PREDICTIONS, prediction_rows(queries, outputs))
    write_json(METRICS, {"split": params.evaluate.split, **report})
    asr, st = report.get("asr", {}), report.get("st", {})
    for kind in ("speech", "text"):
        print(
            f"evaluate [{kind}]: ASR WER {asr[kind]['all']['wer']:.3f} CER {asr[kind]['all']['cer']:.3f}"
            + (f"; ST BLEU {st[kind]['all']['bleu']:.2f} chrF {st[kind]['all']['chrf']:.2f}" if st else "")
        )


if __name__ == "__main__":
    run_stage("evaluate", main)
