"""One weights file for graphs that hold the same tensors: the decoder's prefill and step graphs.

The prefill and step graphs are two exports of one decoder, so every weight is in both; the embedding
graph's table is the LM head's too where the LLM ties them. Saved on their own, a 0.5B-parameter LLM
costs 2 GB per graph and every copy of the directory (DVC's cache, each MLflow model) pays it again.
Here each distinct tensor is stored once, in one external-data file beside the graphs, and every graph
that holds it points at the same bytes (ONNX external data: ``location``, ``offset``, ``length``).
onnxruntime reads the file by those offsets, so each session still loads its own copy in memory.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator, Sequence
from pathlib import Path

INLINE_BYTES = 1024  # below this a tensor stays inside its graph (onnx's own default threshold)
ALIGNMENT = 64  # each tensor starts on a 64-byte boundary, so a reader may map it in place


def share_weights(graphs: Sequence[Path], data_name: str) -> Path:
    """Rewrite ``graphs`` (ONNX files in one folder, weights inside or in their own external data) so
    that every initializer of at least :data:`INLINE_BYTES` lives once in ``data_name`` beside them,
    tensors with equal bytes and type stored once; the graphs' old data files are removed. Returns the
    data file's path. Raises ``ValueError`` when the graphs are not in one folder."""
    import onnx
    from onnx.external_data_helper import load_external_data_for_tensor, uses_external_data

    folders = {Path(graph).resolve().parent for graph in graphs}
    if len(folders) != 1:
        raise ValueError(f"graphs to share weights must be in one folder, not {sorted(map(str, folders))}")
    folder = folders.pop()
    target = folder / data_name
    partial = target.with_name(target.name + ".partial")
    stored: dict[tuple[int, str], tuple[int, int]] = {}  # (type, sha256) → (offset, length)
    old_files: set[Path] = set()
    rewritten = []
    with open(partial, "wb") as data:
        for graph in graphs:
            model = onnx.load(str(graph), load_external_data=False)
            for tensor in all_tensors(model.graph):
                if uses_external_data(tensor):
                    old_files |= {folder / e.value for e in tensor.external_data if e.key == "location"}
                    load_external_data_for_tensor(tensor, str(folder))
                    del tensor.external_data[:]
                    tensor.data_location = onnx.TensorProto.DEFAULT
                if not tensor.HasField("raw_data") or len(tensor.raw_data) < INLINE_BYTES:
                    continue
                raw = tensor.raw_data
                key = (tensor.data_type, hashlib.sha256(raw).hexdigest())
                if key not in stored:
                    data.write(b"\0" * (-data.tell() % ALIGNMENT))
                    stored[key] = (data.tell(), len(raw))
                    data.write(raw)
                offset, length = stored[key]
                point_at(tensor, data_name, offset, length)
            rewritten.append((Path(graph), model))
    os.replace(partial, target)
    for graph, model in rewritten:  # the proto alone: its tensors' bytes are all in ``target`` now
        Path(graph).write_bytes(model.SerializeToString())
    for old in old_files - {target}:
        old.unlink(missing_ok=True)
    return target


def all_tensors(graph) -> Iterator:  # noqa: ANN001 - onnx.GraphProto → onnx.TensorProto
    """Every tensor a graph holds: its initializers and its nodes' tensor attributes, subgraphs too (a
    quantiser may move a Constant node's value to external data as well)."""
    yield from graph.initializer
    for node in graph.node:
        for attribute in node.attribute:
            if attribute.HasField("t"):
                yield attribute.t
            yield from attribute.tensors
            if attribute.HasField("g"):
                yield from all_tensors(attribute.g)
            for subgraph in attribute.graphs:
                yield from all_tensors(subgraph)


def point_at(tensor, location: str, offset: int, length: int) -> None:  # noqa: ANN001 - onnx.TensorProto
    """Make ``tensor`` external data at ``location`` [``offset``, ``offset + length``), dropping its bytes."""
    import onnx

    tensor.ClearField("raw_data")
    del tensor.external_data[:]
    for key, value in (("location", location), ("offset", str(offset)), ("length", str(length))):
        entry = tensor.external_data.add()
        entry.key, entry.value = key, value
    tensor.data_location = onnx.TensorProto.EXTERNAL


def stored_bytes(directory: Path) -> int:
    """Bytes on disk of an exported directory's graphs and their external data (not its other files)."""
    return sum(path.stat().st_size for path in Path(directory).iterdir() if path.suffix in {".onnx", ".data"})
