"""Where the pipeline reads and writes, and its thresholds: every default named once, and the one
function that reads the DRUM_* environment variables (`from_environment`, called when the
Dagster definitions are built and by the CLI, never at import)."""

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
DEFAULT_MIN_MACRO_F1 = 0.5
DEFAULT_KEEP_SHARE = 0.95  # the share of held-out drums the calibrated thresholds keep sorted
DEFAULT_LINK_MODE = "symlink"
LINK_MODES = ("symlink", "hardlink", "copy")
DEFAULT_RESCAN_CRON = "0 4 * * *"
REVIEW_HOST = "127.0.0.1"  # the local page (review by ear, the UI's pictures) is for this machine only
REVIEW_PORT = 8731
REVIEW_URL = f"http://{REVIEW_HOST}:{REVIEW_PORT}/"

# Each setting and the variable that sets it.
ENVIRONMENT = {
    "library_dir": "DRUM_LIBRARY_DIR",
    "archive_dir": "DRUM_ARCHIVE_DIR",
    "output_dir": "DRUM_OUTPUT_DIR",
    "cache_dir": "DRUM_CACHE_DIR",
    "taxonomy_path": "DRUM_TAXONOMY",
    "confidence_threshold": "DRUM_CONFIDENCE_THRESHOLD",
    "min_macro_f1": "DRUM_MIN_MACRO_F1",
    "keep_share": "DRUM_KEEP_SHARE",
    "link_mode": "DRUM_LINK_MODE",
    "max_epochs": "DRUM_MAX_EPOCHS",
    "synthetic_per_label": "DRUM_SYNTHETIC_PER_LABEL",
    "rescan_cron": "DRUM_RESCAN_CRON",
    "dask_scheduler": "DRUM_DASK_SCHEDULER",
    "ignore_names": "DRUM_IGNORE_NAMES",
    "base_corpus": "DRUM_BASE_CORPUS",
    "base_corpus_exclude": "DRUM_BASE_CORPUS_EXCLUDE",
    "accurate": "DRUM_ACCURATE",
}


@dataclass(frozen=True)
class Settings:
    """Resolved, absolute paths and thresholds for one run."""

    library_dir: Path
    archive_dir: Path
    output_dir: Path
    library_is_default: bool
    archive_is_default: bool
    taxonomy_path: Path = DEFAULT_TAXONOMY_PATH
    cache_dir: Path | None = None  # the caches elsewhere (a disk of each worker's own); None: under the output
    confidence_threshold: float | None = None  # None: the calibrated one (the sorting_thresholds asset)
    min_macro_f1: float = DEFAULT_MIN_MACRO_F1
    max_epochs: int = 0  # 0: the training defaults; a small number makes a quick (and worse) run
    synthetic_per_label: int | None = None  # synthesized training drums per fine label; None: the default
    link_mode: str = DEFAULT_LINK_MODE
    seed: int = DEFAULT_SEED
    keep_share: float = DEFAULT_KEEP_SHARE
    ignore_names: bool = False  # sort the archive by sound alone, not by its files' names
    base_corpus: bool = True  # the shipped real sounds (real_sounds/base_corpus.py) join every training
    base_corpus_exclude: tuple[str, ...] = ()  # its sources left out (the benchmark leaves out the held-out one)
    accurate: bool = False  # the pretrained embedding's member joins the ensemble (audio/embeddings.py)

    @classmethod
    def build(cls, library_dir: str = DEFAULT_LIBRARY_DIR, archive_dir: str = DEFAULT_ARCHIVE_DIR,
              output_dir: str = DEFAULT_OUTPUT_DIR, cache_dir: str | None = None, taxonomy_path: str | None = None,
              confidence_threshold: float | None = None, min_macro_f1: float = DEFAULT_MIN_MACRO_F1,
              keep_share: float = DEFAULT_KEEP_SHARE, link_mode: str = DEFAULT_LINK_MODE, max_epochs: int = 0,
              synthetic_per_label: int | None = None, seed: int = DEFAULT_SEED, ignore_names: bool = False,
              base_corpus: bool = True, base_corpus_exclude: str | tuple[str, ...] = (),
              accurate: bool = False) -> Settings:
        """Settings from plain values (no environment read); ValueError for a value out of range."""
        if link_mode not in LINK_MODES:
            raise ValueError(f"unknown link mode {link_mode!r}: choose symlink, hardlink or copy")
        for name, value in (("confidence threshold", confidence_threshold), ("minimum macro-F1", min_macro_f1),
                            ("keep share", keep_share)):
            if value is not None and not 0.0 <= value <= 1.0:
                raise ValueError(f"{name} must be between 0 and 1, got {value}")
        return cls(
            library_dir=_absolute(library_dir),
            archive_dir=_absolute(archive_dir),
            output_dir=_absolute(output_dir),
            library_is_default=_absolute(library_dir) == _absolute(DEFAULT_LIBRARY_DIR),
            archive_is_default=_absolute(archive_dir) == _absolute(DEFAULT_ARCHIVE_DIR),
            cache_dir=_absolute(cache_dir) if cache_dir else None,
            taxonomy_path=_absolute(taxonomy_path) if taxonomy_path else DEFAULT_TAXONOMY_PATH,
            confidence_threshold=confidence_threshold,
            min_macro_f1=min_macro_f1,
            keep_share=keep_share,
            link_mode=link_mode,
            max_epochs=max_epochs,
            synthetic_per_label=synthetic_per_label,
            seed=seed,
            ignore_names=bool(ignore_names),
            base_corpus=bool(base_corpus),
            base_corpus_exclude=_names(base_corpus_exclude),
            accurate=bool(accurate),
        )

    @classmethod
    def resolve(cls, library_dir: str | None = None, archive_dir: str | None = None, output_dir: str | None = None,
                **explicit) -> Settings:
        """Explicit values win, then the DRUM_* environment variables, then the defaults."""
        values = from_environment(library_dir=library_dir, archive_dir=archive_dir, output_dir=output_dir, **explicit)
        return cls.build(**{key: value for key, value in values.items() if key not in DEPLOYMENT_ONLY})

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

    def sorting_rules(self, thresholds: dict | None):
        """The sorting rules of the sorting_thresholds asset's value, with this run's overrides
        (an explicit confidence threshold, --ignore-names)."""
        from drum_pipeline.models.rejection import sorting_rules_from

        return sorting_rules_from(thresholds, self.confidence_threshold, use_names=not self.ignore_names)

    @property
    def layout(self) -> OutputLayout:
        return OutputLayout(self.output_dir, self.cache_dir)


DEFAULTS = {"library_dir": DEFAULT_LIBRARY_DIR, "archive_dir": DEFAULT_ARCHIVE_DIR, "output_dir": DEFAULT_OUTPUT_DIR,
            "cache_dir": None, "taxonomy_path": None, "confidence_threshold": None,
            "min_macro_f1": DEFAULT_MIN_MACRO_F1, "keep_share": DEFAULT_KEEP_SHARE, "link_mode": DEFAULT_LINK_MODE,
            "max_epochs": 0, "synthetic_per_label": None, "rescan_cron": DEFAULT_RESCAN_CRON, "dask_scheduler": "",
            "ignore_names": False, "base_corpus": True, "base_corpus_exclude": "",
            "accurate": False}
DEPLOYMENT_ONLY = ("rescan_cron", "dask_scheduler")  # read where the definitions are built, not by a run
_NUMBERS = {"confidence_threshold": float, "min_macro_f1": float, "keep_share": float, "max_epochs": int,
            "synthetic_per_label": int}


_FLAGS = ("ignore_names", "base_corpus", "accurate")
_FLAG_WORDS = {"1": True, "true": True, "yes": True, "on": True, "0": False, "false": False, "no": False, "off": False}


def from_environment(**explicit) -> dict:
    """Every setting: the explicit value when given (not None), else its DRUM_* variable, else the
    default. ValueError names the variable whose value is not a number."""
    values = {}
    for key, default in DEFAULTS.items():
        given = explicit.get(key)
        text = os.environ.get(ENVIRONMENT[key], "").strip()
        if given is not None:
            values[key] = given
        elif text and key in _FLAGS:
            if text.lower() not in _FLAG_WORDS:
                raise ValueError(f"{ENVIRONMENT[key]}={text!r}: give 1 or 0 (yes or no)")
            values[key] = _FLAG_WORDS[text.lower()]
        elif text and key in _NUMBERS:
            try:
                values[key] = _NUMBERS[key](text)
            except ValueError:
                raise ValueError(f"{ENVIRONMENT[key]}={text!r}: give a number") from None
            if values[key] < 0:
                raise ValueError(f"{ENVIRONMENT[key]}={text!r}: give a number, 0 or more")
        else:
            values[key] = text or default
    values.update({key: value for key, value in explicit.items() if key not in DEFAULTS and value is not None})
    return values


def _names(text: str | tuple[str, ...]) -> tuple[str, ...]:
    """'lmms, fluid' (or a tuple) as sorted names, without blanks."""
    parts = text.split(",") if isinstance(text, str) else text
    return tuple(sorted({part.strip() for part in parts if part.strip()}))


def _absolute(path: str | Path) -> Path:
    return Path(path).expanduser().resolve()

