"""Pictures for the UI and the reports, as PNG bytes (matplotlib, no display needed)."""

from __future__ import annotations

import io

import numpy as np


def _pyplot():
    """matplotlib's pyplot without a display, imported on first use (it costs seconds to import)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _png(fig) -> bytes:
    plt = _pyplot()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=80, bbox_inches="tight")
    plt.close(fig)
    return buffer.getvalue()


def spectrogram_grid(examples: dict[str, list[np.ndarray]], title: str = "") -> bytes:
    """A row of log-mel spectrograms (bands x frames, dB) per class."""
    plt = _pyplot()
    rows = max(1, len(examples))
    cols = max([len(v) for v in examples.values()] + [1])
    fig, axes = plt.subplots(rows, cols, figsize=(1.6 * cols, 1.3 * rows), squeeze=False)
    for ax in axes.ravel():
        ax.set_axis_off()
    for r, (label, specs) in enumerate(sorted(examples.items())):
        for c, spec in enumerate(specs):
            axes[r, c].imshow(spec, origin="lower", aspect="auto", cmap="magma", vmin=-80, vmax=0)
        axes[r, 0].set_title(label, fontsize=8, loc="left")
    if title:
        fig.suptitle(title, fontsize=9)
    return _png(fig)


def spectrogram_png(logmel: np.ndarray) -> bytes:
    """One log-mel spectrogram (bands x frames, dB), small and without axes: the review page's picture."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(2.4, 0.9))
    ax.imshow(logmel, origin="lower", aspect="auto", cmap="magma", vmin=-80, vmax=0)
    ax.set_axis_off()
    return _png(fig)


def confusion_matrix_png(confusion: np.ndarray, classes: list[str], title: str) -> bytes:
    """A confusion matrix with counts, true classes down, predicted across."""
    plt = _pyplot()
    confusion = np.asarray(confusion)
    fig, ax = plt.subplots(figsize=(4.2, 3.6))
    ax.imshow(confusion, cmap="Blues")
    ax.set_xticks(range(len(classes)), classes, rotation=45, ha="right", fontsize=8)
    ax.set_yticks(range(len(classes)), classes, fontsize=8)
    ax.set_xlabel("predicted", fontsize=8)
    ax.set_ylabel("true", fontsize=8)
    limit = confusion.max() / 2 if confusion.size else 0
    for (i, j), value in np.ndenumerate(confusion):
        ax.text(j, i, str(value), ha="center", va="center", fontsize=7, color="white" if value > limit else "black")
    ax.set_title(title, fontsize=9)
    return _png(fig)


def history_png(history: dict[str, list[float]], title: str) -> bytes:
    """Loss (and accuracy, when recorded) per epoch, training and validation."""
    plt = _pyplot()
    panels = [k for k in ("loss", "accuracy") if k in history]
    fig, axes = plt.subplots(1, len(panels), figsize=(3.6 * len(panels), 2.6), squeeze=False)
    for ax, key in zip(axes[0], panels, strict=True):
        ax.plot(history[key], label="train")
        if f"val_{key}" in history:
            ax.plot(history[f"val_{key}"], label="val")
        ax.set_xlabel("epoch", fontsize=8)
        ax.set_title(key, fontsize=9)
        ax.legend(fontsize=7)
    fig.suptitle(title, fontsize=9)
    return _png(fig)


def bar_chart_png(counts: dict[str, int], title: str) -> bytes:
    """Horizontal bars, one per key."""
    plt = _pyplot()
    keys = list(counts)
    fig, ax = plt.subplots(figsize=(4.2, 0.3 * len(keys) + 0.8))
    ax.barh(keys, [counts[k] for k in keys], color="#4a7ab5")
    ax.invert_yaxis()
    for i, key in enumerate(keys):
        ax.text(counts[key], i, f" {counts[key]}", va="center", fontsize=7)
    ax.tick_params(labelsize=8)
    ax.set_title(title, fontsize=9)
    return _png(fig)


def operating_curve_png(curve, title: str) -> bytes:
    """Held-out non-drums rejected against drums kept, one point per threshold (rejection.operating_curve)."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(4.2, 3.0))
    ax.plot(curve["drums_kept"], curve["non_drums_rejected"], marker="o")
    for row in curve.itertuples():
        ax.annotate(f"{row.threshold:.3g}", (row.drums_kept, row.non_drums_rejected), fontsize=6,
                    textcoords="offset points", xytext=(3, 3))
    ax.set_xlabel("held-out drums kept", fontsize=8)
    ax.set_ylabel("held-out non-drums rejected", fontsize=8)
    ax.tick_params(labelsize=7)
    ax.set_title(title, fontsize=9)
    return _png(fig)
