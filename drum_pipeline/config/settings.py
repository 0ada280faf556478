"""Where the pipeline reads and writes, and its thresholds: one place for defaults and env vars."""

from __future__ import annotations

import os
from dataclasses import dataclass, replace
from pathlib import Path

from drum_pipeline.config.layout import OutputLayout
from drum_pipeline.labels.taxonomy import DEFAULT_TAXONOMY_PATH

DEFAULT_LIBRARY_DIR = "data/library"
DEFAULT_ARCHIVE_DIR = "data/archive"
DEFAULT_OUTPUT_DIR = "data/output"
DEFAULT_SEED = 7


@dataclass(frozen=True)
class Settings:
    """Resolved, absolute paths and thresholds for one run."""

    library_dir: Path
    archive_dir: Path
    output_dir: Path
    library_is_default: bool
    archive_is_default: bool
    taxonomy_path: Path = DEFAULT_TAXONOMY_PATH
    confidence_threshold: float | None = None  # None: the threshold the evaluation calibrated
    min_macro_f1: float = 0.5
    max_epochs: int = 0  # 0: the training defaults; a small number makes a quick (and worse) run
    synthetic_per_label: int | None = None  # synthesized training drums per fine label; None: the default
    link_mode: str = "symlink"
    seed: int = DEFAULT_SEED
    keep_share: float = 0.95  # the share of held-out drums the calibrated thresholds keep sorted

    @classmethod
    def resolve(
        cls,
        library_dir: str | None = None,
        archive_dir: str | None = None,
        output_dir: str | None = None,
        confidence_threshold: float | None = None,
        seed: int | None = None,
        taxonomy_path: str | None = None,
        min_macro_f1: float | None = None,
        max_epochs: int | None = None,
        link_mode: str | None = None,
        synthetic_per_label: int | None = None,
        keep_share: float | None = None,
    ) -> Settings:
        """Explicit values win, then the DRUM_* environment variables, then the defaults under data/."""
        library = library_dir or os.environ.get("DRUM_LIBRARY_DIR") or DEFAULT_LIBRARY_DIR
        archive = archive_dir or os.environ.get("DRUM_ARCHIVE_DIR") or DEFAULT_ARCHIVE_DIR
        output = output_dir or os.environ.get("DRUM_OUTPUT_DIR") or DEFAULT_OUTPUT_DIR
        taxonomy = taxonomy_path or os.environ.get("DRUM_TAXONOMY") or DEFAULT_TAXONOMY_PATH
        threshold = confidence_threshold
        if threshold is None and os.environ.get("DRUM_CONFIDENCE_THRESHOLD", "").strip():
            threshold = float(os.environ["DRUM_CONFIDENCE_THRESHOLD"])
        floor = min_macro_f1 if min_macro_f1 is not None else float(os.environ.get("DRUM_MIN_MACRO_F1", "0.5"))
        keep = keep_share if keep_share is not None else float(os.environ.get("DRUM_KEEP_SHARE", "0.95"))
        mode = link_mode or os.environ.get("DRUM_LINK_MODE") or "symlink"
        if mode not in ("symlink", "hardlink", "copy"):
            raise ValueError(f"unknown link mode {mode!r}: choose symlink, hardlink or copy")
        for name, value in (("confidence threshold", threshold), ("minimum macro-F1", floor), ("keep share", keep)):
            if value is not None and not 0.0 <= value <= 1.0:
                raise ValueError(f"{name} must be between 0 and 1, got {value}")
        return cls(
            library_dir=Path(library).expanduser().resolve(),
            archive_dir=Path(archive).expanduser().resolve(),
            output_dir=Path(output).expanduser().resolve(),
            library_is_default=_same_path(library, DEFAULT_LIBRARY_DIR),
            archive_is_default=_same_path(archive, DEFAULT_ARCHIVE_DIR),
            taxonomy_path=Path(taxonomy).expanduser().resolve(),
            confidence_threshold=threshold,
            min_macro_f1=floor,
            keep_share=keep,
            link_mode=mode,
            max_epochs=max_epochs if max_epochs is not None else int(os.environ.get("DRUM_MAX_EPOCHS", "0")),
            seed=DEFAULT_SEED if seed is None else seed,
            synthetic_per_label=synthetic_per_label if synthetic_per_label is not None else
            _count_or_none("DRUM_SYNTHETIC_PER_LABEL"),
        )

    def training_config(self):
        """The training configuration: defaults, this run's seed, and the epoch cap if one is set."""
        from drum_pipeline.models.networks import TrainingConfig

        config = TrainingConfig(seed=self.seed)
        if self.synthetic_per_label is not None:
            config = replace(config, synthetic_per_label=self.synthetic_per_label)
        if self.max_epochs:
            config = replace(config, epochs=min(config.epochs, self.max_epochs),
                             autoencoder_epochs=min(config.autoencoder_epochs, self.max_epochs))
        return config

    def sorting_rules(self):
        """When a classified archive file goes to unsorted: the deployed calibration, with the
        confidence threshold of this run's settings if one is set."""
        from drum_pipeline.archive.index import DETECTOR, sorting_rules_from
        from drum_pipeline.models.store import DEPLOYED, model_dir

        return sorting_rules_from(model_dir(self.layout.models_dir, DETECTOR, DEPLOYED), self.confidence_threshold)

    @property
    def layout(self) -> OutputLayout:
        cache = os.environ.get("DRUM_CACHE_DIR")
        return OutputLayout(self.output_dir, Path(cache).expanduser().resolve() if cache else None)


def _same_path(a: str, b: str) -> bool:
    return Path(a).expanduser().resolve() == Path(b).resolve()


def _count_or_none(variable: str) -> int | None:
    text = os.environ.get(variable, "").strip()
    if not text:
        return None
    if not text.isdigit():
        raise ValueError(f"{variable}={text!r}: give a whole number, 0 or more")
    return int(text)
