"""Pictures for the UI and the reports, as PNG bytes (matplotlib, no display needed)."""

from __future__ import annotations

import io

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402


def _png(fig) -> bytes:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=80, bbox_inches="tight")
    plt.close(fig)
    return buffer.getvalue()


def spectrogram_grid(examples: dict[str, list[np.ndarray]], title: str = "") -> bytes:
    """A row of log-mel spectrograms (bands x frames, dB) per class."""
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
