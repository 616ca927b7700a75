"""Graphs that hold the same tensors keep them once, in one file, and still compute what they did."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from components.export.shared_weights import share_weights, stored_bytes


def external_refs(graph: Path) -> dict[str, tuple[str, int, int]]:
    """Initializer name → (location, offset, length) of each tensor kept outside ``graph``."""
    import onnx
    from onnx.external_data_helper import uses_external_data

    refs = {}
    for tensor in onnx.load(str(graph), load_external_data=False).graph.initializer:
        if uses_external_data(tensor):
            entry = {e.key: e.value for e in tensor.external_data}
            refs[tensor.name] = (entry["location"], int(entry["offset"]), int(entry["length"]))
    return refs


def matmul_graph(path: Path, weights: dict[str, np.ndarray], external: bool) -> Path:
    """y = x @ W1 @ W2 with ``weights`` as initializers; saved with its own external data when asked."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    (first, w1), (second, w2) = weights.items()
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["x", first], ["h"]), helper.make_node("MatMul", ["h", second], ["y"])],
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, w1.shape[0]])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, w2.shape[1]])],
        [numpy_helper.from_array(w1, first), numpy_helper.from_array(w2, second)],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=9)
    onnx.save_model(model, str(path), save_as_external_data=external, location=path.name + ".data")
    return path


def run(graph: Path, x: np.ndarray) -> np.ndarray:
    import onnxruntime as ort

    return ort.InferenceSession(str(graph), providers=["CPUExecutionProvider"]).run(None, {"x": x})[0]


def test_equal_tensors_are_stored_once_and_the_graphs_compute_the_same(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    shared, own_a, own_b = (rng.standard_normal((64, 64)).astype(np.float32) for _ in range(3))
    # the same tensor under another name (as the step graph names what the prefill graph holds)
    a = matmul_graph(tmp_path / "a.onnx", {"wa": shared, "va": own_a}, external=False)
    b = matmul_graph(tmp_path / "b.onnx", {"wb": shared.copy(), "vb": own_b}, external=True)
    x = rng.standard_normal((1, 64)).astype(np.float32)
    before = {graph: run(graph, x) for graph in (a, b)}

    data = share_weights([a, b], "weights.data")

    # b's own data file went
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.onnx", "b.onnx", "weights.data"]
    tensor = 64 * 64 * 4
    assert data.stat().st_size == 3 * tensor  # three distinct tensors, 64-byte aligned already
    refs_a, refs_b = external_refs(a), external_refs(b)
    assert refs_a["wa"] == refs_b["wb"] and refs_a["va"] != refs_b["vb"]
    assert {ref[0] for ref in (*refs_a.values(), *refs_b.values())} == {"weights.data"}
    for graph in (a, b):  # the bytes each graph reads are its own weights: same outputs, bit for bit
        np.testing.assert_array_equal(run(graph, x), before[graph])
    assert stored_bytes(tmp_path) == data.stat().st_size + a.stat().st_size + b.stat().st_size


def test_sharing_again_reads_the_shared_file_and_keeps_it(tmp_path: Path) -> None:
    """A rerun (as the int8 copy shares what the quantiser wrote) must not read a file it is replacing."""
    rng = np.random.default_rng(1)
    w, v = (rng.standard_normal((32, 32)).astype(np.float32) for _ in range(2))
    graphs = [matmul_graph(tmp_path / f"{n}.onnx", {f"w{n}": w, f"v{n}": v}, external=False) for n in "ab"]
    x = rng.standard_normal((1, 32)).astype(np.float32)
    expected = run(graphs[0], x)
    share_weights(graphs, "weights.data")
    share_weights(graphs, "weights.data")
    assert (tmp_path / "weights.data").stat().st_size == 2 * 32 * 32 * 4
    for graph in graphs:
        np.testing.assert_array_equal(run(graph, x), expected)


def test_graphs_in_two_folders_are_refused(tmp_path: Path) -> None:
    rng = np.random.default_rng(2)
    w = {"w": rng.standard_normal((8, 8)).astype(np.float32), "v": np.eye(8, dtype=np.float32)}
    (tmp_path / "one").mkdir()
    (tmp_path / "two").mkdir()
    graphs = [matmul_graph(tmp_path / folder / "g.onnx", w, external=False) for folder in ("one", "two")]
    with pytest.raises(ValueError, match="one folder"):
        share_weights(graphs, "weights.data")
