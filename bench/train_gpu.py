"""GPU training benchmark: a ~110M-parameter GPT for a few minutes in bf16 on one GPU.

Records tokens/s, MFU (6N FLOPs per token against the GPU's dense BF16 peak from
curation/budget.py) next to the planner's assumed MFU, validation bits per byte on the run's
held-out split (with its unigram baseline), and peak memory, in
bench/results/train_gpu.json. Issue 8's goal: MFU >= 40% on an H100 in bf16.

    .venv/bin/curate run --input bench/data/corpus.jsonl --output /tmp/bench_run --preset minimal
    .venv/bin/python bench/train_gpu.py --run /tmp/bench_run --minutes 3

Model: GPT-3 Small's shape (12 layers, d_model 768, 12 heads; 85M parameters without embeddings,
~110M with a 32k vocabulary), context 1024, 32 sequences per step (32,768 tokens), torch.compile,
fused AdamW. ``--tiny`` runs the same code path on a CPU in seconds (the CI test does).
"""

from __future__ import annotations

import argparse
import json
import logging
import platform
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from curation.training.train import TrainConfig, train  # noqa: E402

RESULTS = ROOT / "bench" / "results" / "train_gpu.json"

GPU_CONFIG = dict(layers=12, d_model=768, heads=12, seq_len=1024, batch_size=32, grad_accum=1, lr=6e-4,
                  warmup_steps=100, max_steps=20_000, num_workers=4, device="cuda", precision="bf16", compile=True,
                  log_every=50, checkpoint_every=0)
# The same path on a CPU in seconds: fp32, no compile, no workers.
TINY_CONFIG = dict(layers=2, d_model=64, heads=2, seq_len=64, batch_size=4, lr=3e-3, warmup_steps=2, max_steps=6,
                   num_workers=0, device="cpu", precision="fp32", log_every=2, checkpoint_every=0,
                   sample_max_new_tokens=20)


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--run", required=True, help="a curate run's output folder")
    parser.add_argument("--out", default="/tmp/bench_train_gpu", help="checkpoint and metrics folder (rewritten)")
    parser.add_argument("--minutes", type=float, default=3.0, help="wall-time budget of the training loop")
    parser.add_argument("--gpu", help="curation/budget.py GPU key for the peak (default: detected)")
    parser.add_argument("--tiny", action="store_true", help="the CPU code path with a tiny model")
    parser.add_argument("--results", default=str(RESULTS), help="where the JSON goes")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")

    settings = dict(TINY_CONFIG if args.tiny else GPU_CONFIG, resume=False, gpu=args.gpu)
    if not args.tiny:
        settings["max_seconds"] = args.minutes * 60
    summary = train(args.run, args.out, TrainConfig.model_validate(settings))
    result = {
        "command": " ".join(["python", "bench/train_gpu.py"] + (argv if argv is not None else sys.argv[1:])),
        "run": str(args.run),
        "python": platform.python_version(),
        "tokens_per_s": summary["tokens_per_s"],
        "mfu": summary["mfu"],
        "planner_mfu": summary["planner_mfu"],
        "goal_mfu": 0.40,
        "peak_memory_gb": summary["peak_memory_gb"],
        # Validation on the run's held-out split, beside MFU: speed that does not learn is no speed.
        "val_bpb": summary["val_bpb"],
        "unigram_bpb": summary["unigram_bpb"],
        "val_loss": summary["val_loss"],
        "params": summary["params"],
        "device_name": summary["device_name"],
        "summary": summary,
    }
    import torch

    result["torch"] = torch.__version__
    path = Path(args.results)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result, indent=2, sort_keys=True) + "\n")
    mfu = f"{summary['mfu']:.1%}" if summary["mfu"] is not None else "n/a (no GPU peak)"
    bpb = f"{summary['val_bpb']:.4f}" if summary["val_bpb"] is not None else "n/a (no held-out split)"
    print(f"{summary['device_name']}: {summary['tokens_per_s'] or 0:,.0f} tokens/s, MFU {mfu} "
          f"(planner assumes {summary['planner_mfu']:.0%}), validation {bpb} bits/byte "
          f"(unigram {summary['unigram_bpb'] or float('nan'):.4f}), peak memory {summary['peak_memory_gb']:.1f} GB "
          f"-> {path}")
    return result


if __name__ == "__main__":
    main()
