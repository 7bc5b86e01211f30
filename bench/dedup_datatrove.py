"""DataTrove's four MinHash stages over a folder of JSONL files: the peer baseline for bench/dedup.py.

Runs in its own venv (DataTrove pins its own dependencies), never imported by the project:

    python3.11 -m venv bench/.venv-datatrove
    bench/.venv-datatrove/bin/pip install 'datatrove[processing]'     # 0.10.1 here
    bench/.venv-datatrove/bin/python bench/dedup_datatrove.py --input DIR --work DIR [--workers 2]

DataTrove's defaults throughout: ``MinhashConfig()`` (word 5-grams after ``simplify_text``, which
lowercases, strips punctuation and diacritics and folds every number to 0; 14 buckets x 8 hashes;
64-bit xxhash shingles), its English word tokenizer, its local executor. Stages run one after the
other and each is timed; DataTrove parallelizes signatures and filtering over input files only, and
buckets over its 14 buckets. Prints one JSON object; the removed ids go to ``WORK/removed_ids.txt``.
"""

from __future__ import annotations

import argparse
import gzip
import json
import shutil
import time
from pathlib import Path


def main() -> None:
    from datatrove.executor import LocalPipelineExecutor
    from datatrove.pipeline.dedup.minhash import (MinhashConfig, MinhashDedupBuckets, MinhashDedupCluster,
                                                  MinhashDedupFilter, MinhashDedupSignature)
    from datatrove.pipeline.readers import JsonlReader
    from datatrove.pipeline.writers.jsonl import JsonlWriter

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--input", type=Path, required=True, help="folder of *.jsonl files (id, text)")
    parser.add_argument("--work", type=Path, required=True)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    files = sorted(args.input.glob("*.jsonl"))
    shutil.rmtree(args.work, ignore_errors=True)
    work = args.work
    config = MinhashConfig()

    def reader():
        return JsonlReader(str(args.input), glob_pattern="*.jsonl", text_key="text", id_key="id")

    stages = {
        "signatures": LocalPipelineExecutor(
            pipeline=[reader(), MinhashDedupSignature(output_folder=str(work / "signatures"), config=config)],
            tasks=len(files), workers=args.workers, logging_dir=str(work / "logs/signatures")),
        "buckets": LocalPipelineExecutor(
            pipeline=[MinhashDedupBuckets(input_folder=str(work / "signatures"), output_folder=str(work / "buckets"),
                                          config=config)],
            tasks=config.num_buckets, workers=args.workers, logging_dir=str(work / "logs/buckets")),
        "cluster": LocalPipelineExecutor(
            pipeline=[MinhashDedupCluster(input_folder=str(work / "buckets"), output_folder=str(work / "remove_ids"),
                                          config=config)],
            tasks=1, workers=1, logging_dir=str(work / "logs/cluster")),
        "filter": LocalPipelineExecutor(
            pipeline=[reader(), MinhashDedupFilter(input_folder=str(work / "remove_ids"),
                                                   exclusion_writer=JsonlWriter(str(work / "removed"))),
                      JsonlWriter(str(work / "kept"))],
            tasks=len(files), workers=args.workers, logging_dir=str(work / "logs/filter")),
    }
    seconds = {}
    for name, executor in stages.items():
        t0 = time.perf_counter()
        executor.run()
        seconds[name] = round(time.perf_counter() - t0, 3)
    removed = []
    for path in sorted((work / "removed").glob("*.jsonl.gz")):
        with gzip.open(path, "rt") as fh:
            removed += [json.loads(line)["id"] for line in fh]
    (work / "removed_ids.txt").write_text("".join(f"{i}\n" for i in removed))
    disk = {d: sum(f.stat().st_size for f in (work / d).rglob("*") if f.is_file())
            for d in ("signatures", "buckets", "remove_ids")}
    print(json.dumps({"seconds": seconds, "total_seconds": round(sum(seconds.values()), 3), "removed": len(removed),
                      "workers": args.workers, "input_files": len(files), "intermediate_bytes": disk,
                      "config": str(config)}))


if __name__ == "__main__":  # the local executor spawns workers that re-import this file
    main()
