"""ONNX export of the speech path (frozen encoder + adapter) with dynamic batch and length.

The dynamo exporter is used: the legacy one bakes the batch size into attention reshapes.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import nn

from components.modeling.encoder import InputSpec
from components.modeling.speech_llm import SpeechPath

INPUT_NAMES = ["features", "feature_mask"]
OUTPUT_NAMES = ["speech_embeds", "speech_mask"]
SOURCE_RECORDS = ("pkg.torch.onnx.stack_trace",)  # node metadata that names files on this machine
EXTERNAL_DATA_BYTES = 1_500_000_000  # past this, weights are saved beside the graph, not inside it


def example_inputs(spec: InputSpec, batch: int = 2) -> tuple[torch.Tensor, torch.Tensor]:
    """Example with dims > 1 (torch.export specialises 0/1-sized dims) and one padded clip."""
    frames = max(3 * spec.min_frames, 3 * spec.frames_per_second)  # 3 s, or more for a long minimum
    generator = torch.Generator().manual_seed(0)
    features = torch.randn(batch, spec.channels, frames, generator=generator)
    mask = torch.ones(batch, frames, dtype=torch.long)
    mask[1:, frames * 2 // 3 :] = 0
    return features, mask


def export_speech_path(speech: SpeechPath, out_path: Path, opset: int) -> Path:
    """Write ``out_path`` (single file, weights inside) and return it."""
    from torch.export import Dim

    speech.eval()
    # sdpa adds a `batch != 1` guard under torch.export; eager attention computes the same thing without it.
    speech.encoder.model.set_attn_implementation("eager")
    spec = speech.encoder.input_spec()
    batch = Dim("batch", min=1, max=256)
    frames = Dim("frames", min=spec.min_frames, max=spec.max_frames)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    shapes = {"features": {0: batch, 2: frames}, "feature_mask": {0: batch, 1: frames}}
    return export_graph(speech, example_inputs(spec), (INPUT_NAMES, OUTPUT_NAMES), shapes, out_path, opset)


def export_graph(
    module: nn.Module, inputs: tuple, names: tuple[list[str], list[str]], shapes: Any, out: Path, opset: int
) -> Path:
    """Export ``module`` with the dynamo exporter to ``out`` (input and output ``names``, dynamic
    ``shapes``), its weights inside unless they pass :data:`EXTERNAL_DATA_BYTES`; source records go."""
    with torch.no_grad():
        program = torch.onnx.export(
            module,
            inputs,
            dynamo=True,
            input_names=names[0],
            output_names=names[1],
            dynamic_shapes=shapes,
            opset_version=opset,
            external_data=False,
            verbose=False,
        )
    # the exporter records each node's Python stack, with absolute source paths: the same model
    # exported from another folder would be another file. Those records go; the graph stays.
    for node in program.model.graph.all_nodes():
        for key in SOURCE_RECORDS:
            node.metadata_props.pop(key, None)
    # protobuf caps one file at 2 GB: a real LLM's weights go to a ``.data`` file beside the graph
    weights = sum(p.numel() * p.element_size() for p in module.parameters())
    program.save(str(out), external_data=weights > EXTERNAL_DATA_BYTES)
    return out
