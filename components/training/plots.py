"""The training-loss curve as a PNG, for people reading a run in MLflow or the reports folder."""

from __future__ import annotations

from pathlib import Path


def plot_loss(steps: list[dict[str, float]], path: Path, title: str = "adapter training loss") -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    path.parent.mkdir(parents=True, exist_ok=True)
    figure, axis = plt.subplots(figsize=(6, 3.5), dpi=100)
    axis.plot([s["step"] for s in steps], [s["loss"] for s in steps], linewidth=1)
    axis.set_xlabel("step")
    axis.set_ylabel("cross-entropy on target tokens")
    axis.set_title(title)
    axis.grid(alpha=0.3)
    figure.tight_layout()
    figure.savefig(path, metadata={"Software": None})
    plt.close(figure)
