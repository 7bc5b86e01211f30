"""The default quality classifier: trained from the bundled sample corpus when none is configured."""

from __future__ import annotations

import hashlib
import os
import shutil
from pathlib import Path
from typing import Any

from classifiers.train import load_labelled, train_classifiers
from curation.errors import CurationError

SAMPLE = Path(__file__).resolve().parents[1] / "sample_data" / "corpus.jsonl.gz"
# The training recipe's version, part of the cache folder's name: bump it whenever training changes
# (data, split, parameters) so a model cached by an older recipe is never reused.
# 2: the train/held-out split keeps duplicate clusters on one side.
RECIPE_VERSION = 2


def default_model_dir() -> Path:
    """Where the default model lives: one per machine, sample corpus and training recipe
    (``$XDG_CACHE_HOME``), so runs into different folders share the model file, its path and
    therefore their config hash."""
    digest = hashlib.sha256(SAMPLE.read_bytes()).hexdigest()[:16] if SAMPLE.is_file() else "missing"
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return cache / "curation" / f"default-classifier-{digest}-r{RECIPE_VERSION}"


def ensure_default_model(directory: Path | None = None, kind: str = "fasttext") -> Path:
    """Train (once) on sample_data's labels: human documentation vs junk."""
    directory = Path(directory) if directory is not None else default_model_dir()
    model = directory / ("fasttext.bin" if kind == "fasttext" else "linear.npz")
    if model.is_file() and model.with_name(model.name + ".json").is_file():
        return model
    if not SAMPLE.is_file():
        raise CurationError(f"no quality model configured and no sample corpus at {SAMPLE} to train one: "
                            "train one with `curate train-classifier` and set stages[].params.model")
    data = load_labelled([], [], labelled=[str(SAMPLE)])
    # Train beside the final folder and rename: concurrent runs never see a half-written model.
    tmp = directory.with_name(f"{directory.name}.tmp-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    train_classifiers(data, tmp, data_description="sample_data/corpus.jsonl.gz (human documentation vs "
                      "generated junk; a default for demos: train your own for your domain)")
    try:
        os.replace(tmp, directory)
    except OSError:  # another process finished first; its model is the same
        shutil.rmtree(tmp, ignore_errors=True)
    return model


DEMO_NOTE = ("quality_classifier: no model configured, so the demo model trained on sample_data/ (technical "
             "documentation vs generated junk) scores the documents; train one for your data with "
             "`curate train-classifier` and set its params.model")


def fill_default_model(config: Any) -> list[str]:
    """Give every ``quality_classifier`` stage without a model the default one (the convenience
    ``curate run`` and the flow share; the library itself never trains a model behind the user's back).

    Returns the notes to show the user: one, saying the demo model is in use, if it was filled in.
    """
    filled = False
    for spec in config.stages:
        if spec.name == "quality_classifier" and not spec.params.get("model"):
            spec.params["model"] = str(ensure_default_model())
            filled = True
    return [DEMO_NOTE] if filled else []
