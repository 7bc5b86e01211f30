"""How much real text each quality preset keeps and how much junk it removes, on sample_data's labels.

    .venv/bin/python bench/quality_calibration.py [--presets default fineweb gopher c4] [--json FILE]

Every preset runs over the labelled originals of sample_data/corpus.jsonl.gz (duplicates are the
dedup stage's business). A quality classifier in the chain is scored out-of-fold (2 folds by id
hash), so it never scores documents it was trained on. Prints kept/removed shares per label and per
source, first-firing drop reasons per label, and would-fire counts per rule.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from classifiers.evaluate import evaluate_chain, load_sample

SAMPLE = Path(__file__).resolve().parents[1] / "sample_data" / "corpus.jsonl.gz"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--presets", nargs="+", default=["default", "fineweb", "gopher", "c4"])
    parser.add_argument("--json", type=Path, help="also write the full reports here")
    args = parser.parse_args()
    records = load_sample(SAMPLE)
    reports = {preset: evaluate_chain(records, preset) for preset in args.presets}

    print("| preset | stages | real text kept | junk removed |\n|---|---|---:|---:|")
    for preset, r in reports.items():
        h, j = r["by_label"]["human"], r["by_label"]["junk"]
        print(f"| {preset} | {' → '.join(r['stages'])} | {h['kept_fraction']:.1%} ({h['kept']:,}/{h['documents']:,}) "
              f"| {1 - j['kept_fraction']:.1%} ({j['documents'] - j['kept']:,}/{j['documents']:,}) |")
    for preset, r in reports.items():
        print(f"\n### {preset}: kept per source\n\n| source | documents | kept |\n|---|---:|---:|")
        for source, row in r["by_source"].items():
            print(f"| {source} | {row['documents']:,} | {row['kept'] / row['documents']:.1%} |")
        print(f"\n### {preset}: drops by first-firing reason (real / junk), and would-fire counts\n")
        print("| rule | real dropped | junk dropped | would fire (all docs) |\n|---|---:|---:|---:|")
        for reason in sorted(set(r["drops"]) | set(r["would_fire"])):
            d = r["drops"].get(reason, {})
            wf = r["would_fire"].get(reason, "")
            print(f"| {reason} | {d.get('human', 0):,} | {d.get('junk', 0):,} | {wf} |")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(reports, indent=2) + "\n")


if __name__ == "__main__":
    main()
