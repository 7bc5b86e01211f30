"""``curate train-classifier``: added to the ``curate`` command by ``flows.cli`` (the library's CLI
never imports this package: the dependency direction is flows -> classifiers -> curation)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from curation.cli import Command
from curation.errors import CurationError


def add_parser(sub: Any) -> argparse.ArgumentParser:
    train = sub.add_parser(
        "train-classifier", help="train the quality classifiers (fastText and a linear baseline)",
        description="Train a fastText (word bigrams, DCLM-style) and a scikit-learn linear quality classifier on "
                    "high-quality positives vs raw/junk negatives, evaluate both on a held-out split, and write "
                    "the models with JSON cards and MODEL_CARD.md. Use the model in a run with "
                    "stage_options: {quality_classifier: {model: DIR/fasttext.bin}}.",
    )
    train.add_argument("--positives", nargs="*", default=[], metavar="PATH", help="high-quality text (any input format)")
    train.add_argument("--negatives", nargs="*", default=[], metavar="PATH", help="raw or junk text")
    train.add_argument("--labelled", nargs="*", default=[], metavar="PATH",
                       help="or files with a label field (e.g. sample_data/corpus.jsonl.gz)")
    train.add_argument("--label-field", default="label", help="label field of --labelled files (default: label)")
    train.add_argument("--positive-label", default="human", help="label value of positives (default: human)")
    train.add_argument("--holdout", type=float, default=0.2, help="held-out fraction (default: 0.2)")
    train.add_argument("--output", "-o", required=True, metavar="DIR", help="where models and cards are written")
    return train


def run(args: argparse.Namespace) -> int:
    from classifiers.train import load_labelled, train_classifiers

    if not (args.positives or args.negatives or args.labelled):
        raise CurationError("give --positives and --negatives, or --labelled files")
    data = load_labelled(args.positives, args.negatives, labelled=args.labelled, label_field=args.label_field,
                         positive_label=args.positive_label)
    output = Path(args.output)
    described = ", ".join(args.labelled + args.positives + args.negatives)
    train_classifiers(data, output, holdout_fraction=args.holdout, data_description=described)
    print((output / "MODEL_CARD.md").read_text())
    return 0


TRAIN_CLASSIFIER = Command("train-classifier", add_parser, run)
