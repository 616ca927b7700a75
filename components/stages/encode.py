"""DVC stage ``encode``: every validated clip through the frozen encoder, once.

Train and evaluate read these states instead of running the encoder at every step and condition.
The store (:mod:`components.data.state_store`) is a persistent DVC output: a re-run after audio was
added or changed encodes only those clips, and a new encoder (or layer choice) encodes them all.
"""

from __future__ import annotations

from pathlib import Path

from components.atomic import write_json
from components.config import Params
from components.data.audio import load_audio
from components.data.manifest import DATA_ROOT, SPLITS, read_manifest
from components.data.state_store import refresh_states
from components.modeling.base_models import load_encoder, read_sources
from components.modeling.encoder import encoder_features, speech_encoder
from components.modeling.encoder_states import clip_states, encoder_key
from components.run_records import split_record, write_run_record
from components.seeding import seed_everything
from components.stages.runner import run_stage
from components.workspace import ENCODED_DIR, VALIDATED_DIR

METRICS = Path("metrics/encode.json")


def main(params: Params) -> None:
    seed_everything(params.train.seed)
    model, extractor = load_encoder(read_sources().encoder)
    encoder = speech_encoder(model).eval()
    every_layer = params.train.adapter.layer_weighted
    key = encoder_key(encoder, extractor, every_layer)
    clips = {u.id: DATA_ROOT / u.audio for split in SPLITS for u in read_manifest(split, VALIDATED_DIR)}
    rate = extractor.sampling_rate

    def states(path: Path):
        return clip_states(encoder, encoder_features(extractor, load_audio(path, rate)), every_layer)

    summary = refresh_states(ENCODED_DIR, clips, key, every_layer, states)
    record = {"encoder_key": key, "every_layer": every_layer, **summary.__dict__}
    # how many clips this run encoded or reused follows what earlier runs left: a record of the run
    write_run_record("encode", split_record(record, ["seconds", "computed", "reused", "removed"]))
    write_json(METRICS, record)
    print(
        f"encode: {summary.clips} clips: {summary.computed} encoded, {summary.reused} reused, "
        f"{summary.removed} removed, in {summary.seconds} s"
    )


if __name__ == "__main__":
    run_stage("encode", main)
