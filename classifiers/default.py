"""The default quality classifier: trained from the bundled sample corpus when none is configured."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from classifiers.train import load_labelled, train_classifiers
from curation.errors import CurationError

SAMPLE = Path(__file__).resolve().parents[1] / "sample_data" / "corpus.jsonl.gz"


def ensure_default_model(directory: Path, kind: str = "fasttext") -> Path:
    """Train (once per output folder) on sample_data's labels: human documentation vs junk."""
    model = directory / ("fasttext.bin" if kind == "fasttext" else "linear.npz")
    if model.is_file() and model.with_name(model.name + ".json").is_file():
        return model
    if not SAMPLE.is_file():
        raise CurationError(f"no quality model configured and no sample corpus at {SAMPLE} to train one: "
                            "train one with `curate train-classifier` and set stages[].params.model")
    data = load_labelled([], [], labelled=[str(SAMPLE)])
    train_classifiers(data, directory, data_description="sample_data/corpus.jsonl.gz (human documentation vs "
                      "generated junk; a default for demos: train your own for your domain)")
    return model


def fill_default_model(config: Any, output: Path) -> None:
    """Give every ``quality_classifier`` stage without a model one trained from the bundled sample
    into ``output/classifier`` (the convenience ``curate run`` and the flow share; the library
    itself never trains a model behind the user's back)."""
    for spec in config.stages:
        if spec.name == "quality_classifier" and not spec.params.get("model"):
            spec.params["model"] = str(ensure_default_model(Path(output) / "classifier"))
