"""The training loop: a small GPT on a curate run's shards, on one device or under DDP.

``train(run_dir, out_dir, TrainConfig(...))`` runs in one process, or in each process of
``torchrun --nproc_per_node N -m curation.training ...`` (DDP from torchrun's environment; NCCL on
GPUs, gloo on CPUs). AdamW with decoupled weight decay (none on biases, norms and embeddings),
linear warmup then cosine decay to 10% of the peak LR, gradient clipping, bf16 autocast on CUDA,
optional ``torch.compile``.

``out_dir`` gets ``checkpoint.pt`` (model, optimizer, scheduler, loader position of every rank,
RNG states of every rank; written to a temporary name and renamed, so a crash mid-save leaves
the previous one), ``metrics.jsonl`` (one line per logged step) and ``train_summary.json``
(throughput, MFU against the planner's GPU peak and its assumed MFU, peak memory). A run finding
a checkpoint there resumes from it: same next batch, same next loss. The LR schedule is always the
current config's, so a run resumed with a larger ``max_steps`` follows the longer cosine; a run
whose checkpoint is already at ``max_steps`` trains nothing and keeps its summary.

``stop_on_signals(signal.SIGTERM)`` around ``train`` turns the signal into the clean stop
``max_seconds`` makes (checkpoint and summary after the current step), then delivers it.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import os
import random
import resource
import signal
import statistics
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from curation import budget
from curation.errors import CurationError
from curation.io.files import write_atomic, write_text
from curation.training import require_torch
from curation.training.checkpoint import CHECKPOINT, load_checkpoint, save_checkpoint
from curation.training.data import RunData

log = logging.getLogger(__name__)

METRICS = "metrics.jsonl"
SUMMARY = "train_summary.json"
CHECKPOINT_FORMAT = 1
# Settings the LR schedule is built from; on resume it is rebuilt from the current ones.
SCHEDULE_FIELDS = ("lr", "warmup_steps", "max_steps", "min_lr_ratio")
STOP_TIME, STOP_SIGNAL = 1, 2  # why a run stops early; all-reduced with MAX across ranks


class TrainConfig(BaseModel):
    """Everything that decides a training run. Defaults are GPT-3 Small's recipe (Brown et al.
    2020, Table 2.1 and Appendix B) unless said otherwise."""

    model_config = ConfigDict(extra="forbid")

    # Model: GPT-3 Small / GPT-2 small shape (12 layers, d_model 768, 12 heads of 64).
    layers: int = Field(12, gt=0)
    d_model: int = Field(768, gt=0)
    heads: int = Field(12, gt=0)
    from_budget: bool = Field(False, description="Size the model from the run's budget.json compute-optimal "
                                                 "parameter count (model.shape_for_params), not layers/d_model/heads.")
    seq_len: int = Field(1024, gt=0, description="GPT-2's context length (Radford et al. 2019).")
    dropout: float = Field(0.0, ge=0, lt=1)

    # Batch: per rank and micro-step; a step is batch_size * grad_accum * world_size sequences.
    batch_size: int = Field(16, gt=0)
    grad_accum: int = Field(1, gt=0)

    # Optimizer and schedule.
    lr: float = Field(6e-4, gt=0, description="GPT-3 Small's peak learning rate.")
    min_lr_ratio: float = Field(0.1, ge=0, le=1, description="Cosine decay to 10% of the peak (GPT-3, Appendix B; "
                                                            "Chinchilla, Hoffmann et al. 2022).")
    warmup_steps: int | None = Field(
        None, ge=0, description="Linear warmup steps; default a tenth of max_steps, at most 100 (nanoGPT's small-run "
                                "warmup_iters=100 at the default 1,000 steps), so any max_steps is valid.")
    max_steps: int = Field(1000, gt=0, description="Optimizer steps; the cosine ends here.")
    beta1: float = Field(0.9, gt=0, lt=1)
    beta2: float = Field(0.95, gt=0, lt=1, description="GPT-3, Appendix B.")
    eps: float = Field(1e-8, gt=0)
    weight_decay: float = Field(0.1, ge=0, description="GPT-3, Appendix B.")
    grad_clip: float = Field(1.0, gt=0, description="Global-norm clipping at 1.0 (GPT-3, Appendix B).")

    # Run.
    seed: int = 0
    shuffle: bool = True
    shuffle_window: int = Field(256, gt=0, description="Blocks permuted together (loader.PackedDataset).")
    num_workers: int = Field(2, ge=0, description="DataLoader workers per rank (tokenizing off the training thread).")
    device: Literal["auto", "cpu", "cuda"] = "auto"
    precision: Literal["auto", "bf16", "fp32"] = Field("auto", description="auto: bf16 autocast on CUDA, fp32 on CPU; "
                                                                        "bf16 autocasts on either.")
    compile: bool = False
    log_every: int = Field(10, gt=0)
    checkpoint_every: int = Field(200, ge=0, description="Steps between checkpoints (0: only at the end).")
    max_seconds: float | None = Field(None, gt=0, description="Stop, with a checkpoint, after this much wall time.")
    resume: bool = Field(True, description="Resume from out_dir/checkpoint.pt when there is one.")
    gpu: str | None = Field(None, description="curation.budget.GPUS key for the MFU peak (default: detected).")
    peak_flops: float | None = Field(None, gt=0, description="Peak FLOP/s per device, overriding the table.")

    # Evaluation on the run's held-out split, and samples at the end (curation.training.evaluate, .sample).
    eval_every: int = Field(250, ge=0, description="Steps between validations (0: only at the end); nanoGPT "
                                                   "evaluates every 250 steps in its small configs.")
    eval_tokens: int = Field(1 << 20, ge=0, description="Held-out tokens per validation, whole documents "
                                                        "(0: no validation); ~nanoGPT's 200 x 12 x 1024 / 2.")
    samples: int = Field(2, ge=0, description="Texts sampled from the start of a document at the end of training.")
    sample_prompts: list[str] = Field(default_factory=list, description="Prompts continued at the end as well.")
    sample_max_new_tokens: int = Field(200, ge=0, description="curation.training.sample's default.")

    @model_validator(mode="after")
    def _check(self) -> TrainConfig:
        if self.warmup_steps is None:
            self.warmup_steps = min(100, self.max_steps // 10)
        if self.warmup_steps > self.max_steps:
            raise ValueError(f"warmup_steps ({self.warmup_steps}) exceeds max_steps ({self.max_steps})")
        if not self.from_budget and self.d_model % self.heads:
            raise ValueError(f"d_model ({self.d_model}) must be a multiple of heads ({self.heads})")
        return self


class WarmupCosine:
    """LR multiplier at optimizer step ``s``: linear warmup to 1 over ``warmup`` steps, then cosine
    down to ``min_ratio`` at ``total``, flat after. A class, not a lambda, so that
    ``LambdaLR.state_dict`` saves it."""

    def __init__(self, warmup: int, total: int, min_ratio: float):
        self.warmup, self.total, self.min_ratio = warmup, total, min_ratio

    def __call__(self, step: int) -> float:
        if step < self.warmup:
            return (step + 1) / self.warmup
        progress = min(1.0, (step - self.warmup) / max(1, self.total - self.warmup))
        return self.min_ratio + (1 - self.min_ratio) * 0.5 * (1 + math.cos(math.pi * progress))


@dataclass(frozen=True)
class Distributed:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def detect_gpu(name: str, memory_bytes: int) -> str | None:
    """The ``curation.budget.GPUS`` key for a CUDA device name, or ``None`` if it is not in the table.
    Every H100 is taken for the SXM part; a PCIe card peaks lower, so give ``gpu``/``peak_flops``."""
    name = name.upper()
    if "H200" in name:
        return "h200"
    if "H100" in name:
        return "h100-sxm"
    if "A100" in name:
        return "a100-80gb" if memory_bytes > 48e9 else "a100-40gb"
    return None


def resolve_shape(config: TrainConfig, run: RunData) -> tuple[int, int, int]:
    """``(layers, d_model, heads)``: as configured, or from the run's budget.json."""
    if not config.from_budget:
        return config.layers, config.d_model, config.heads
    report = run.budget()
    if report is None:
        raise CurationError(f"{run.root} has no budget.json to size the model from")
    from curation.training.model import shape_for_params

    return shape_for_params(report["compute_optimal"]["params"])


class CheckpointMismatch(CurationError):
    """A checkpoint in the output folder that this config cannot resume. The message names the
    Python setting; a command line says its flag with ``for_flag``."""

    def __init__(self, path: Path, reason: str, fresh: str = "resume=False"):
        self.path, self.reason = path, reason
        super().__init__(f"{path} cannot be resumed: {reason}; use another output folder, or start afresh "
                         f"with {fresh}")

    def for_flag(self, flag: str) -> CheckpointMismatch:
        return CheckpointMismatch(self.path, self.reason, flag)


class _StopRequest:
    """The signal a ``stop_on_signals`` handler caught, for the running ``train`` to see. Process-wide:
    a signal handler has nowhere else to put it."""

    signum: int | None = None


_stop = _StopRequest()


@contextlib.contextmanager
def stop_on_signals(*signums: int) -> Iterator[None]:
    """Within: the first of ``signums`` makes ``train`` stop after its current step, with a checkpoint
    and summary, as ``max_seconds`` does. On exit the caught signal goes to the handler this replaced
    (the default one ends the process; Prefect's marks the flow run), so it is deferred, not lost.
    A second signal goes there at once. Outside the main thread, where Python cannot install signal
    handlers, this does nothing."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous: dict[int, Any] = {}
    delivered = False

    def restore() -> None:
        for signum, handler in previous.items():
            # None: a handler installed from C, which Python cannot reinstall; the default stands in.
            signal.signal(signum, signal.SIG_DFL if handler is None else handler)

    def handler(signum: int, frame: Any) -> None:
        nonlocal delivered
        if _stop.signum is not None:
            restore()
            delivered = True
            signal.raise_signal(signum)
            return
        _stop.signum = signum
        log.warning("%s: stopping after this step with a checkpoint (send it again to stop at once)",
                    signal.Signals(signum).name)

    _stop.signum = None
    previous.update((signum, signal.signal(signum, handler)) for signum in signums)
    try:
        yield
    finally:
        caught, _stop.signum = _stop.signum, None
        restore()
        if caught is not None and not delivered:
            signal.raise_signal(caught)


def _setup_distributed(torch, device_type: str) -> Distributed:
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return Distributed()
    dist = Distributed(int(os.environ["RANK"]), world, int(os.environ.get("LOCAL_RANK", "0")))
    if not torch.distributed.is_initialized():
        # torchrun sets MASTER_ADDR/MASTER_PORT; NCCL between GPUs, gloo between CPU processes.
        torch.distributed.init_process_group("nccl" if device_type == "cuda" else "gloo")
    return dist


def _rng_state(torch, device) -> dict[str, Any]:
    state = {"python": random.getstate(), "torch": torch.get_rng_state()}
    if device.type == "cuda":
        state["cuda"] = torch.cuda.get_rng_state(device)
    return state


def _set_rng_state(torch, state: dict[str, Any], device) -> None:
    random.setstate(state["python"])
    torch.set_rng_state(state["torch"].cpu())
    if "cuda" in state and device.type == "cuda":
        torch.cuda.set_rng_state(state["cuda"].cpu(), device)


def _gather(torch, dist: Distributed, obj: Any) -> list[Any]:
    if not dist.enabled:
        return [obj]
    out: list[Any] = [None] * dist.world_size
    torch.distributed.all_gather_object(out, obj)
    return out


def _peak_memory_gb(torch, device) -> float:
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 1e9
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 / 1e9  # Linux reports KiB


def _finished_summary(out: Path, step: int) -> dict[str, Any] | None:
    """The summary a run left when its checkpoint is at ``step``, or ``None`` (missing, or from
    another step: a crash between the last checkpoint and the summary)."""
    path = out / SUMMARY
    if not path.is_file():
        return None
    summary = json.loads(path.read_text())
    return summary if summary.get("steps") == step else None


def _heldout(run_dir: str | Path, config: TrainConfig, main: bool) -> Any:
    """The held-out tokens validation reads, or None (validation off, or no held-out documents)."""
    from curation.training.evaluate import HeldOut

    if not config.eval_tokens:
        return None
    held = RunData.open(run_dir, split="heldout")
    if not held.total_documents:
        if main:
            log.warning("%s has no held-out documents (shards.heldout_fraction in its config): no validation",
                        run_dir)
        return None
    return HeldOut.read(held, config.eval_tokens)


def _copy_tokenizer(run: RunData, directory: Path) -> None:
    for name in ("tokenizer.json", "tokenizer_config.json"):
        source = run.tokenizer_path.parent / name
        if source.is_file():
            data = source.read_bytes()
            directory.mkdir(parents=True, exist_ok=True)
            write_atomic(directory / name, lambda fh: fh.write(data))


def end_samples(model: Any, run: RunData, config: TrainConfig) -> list[dict[str, Any]]:
    """``config.samples`` texts from the start of a document and one per prompt, with distinct-2."""
    from curation.training.sample import SamplingConfig, Trained, distinct_n

    if not config.sample_max_new_tokens:
        return []
    trained = Trained(model, run.tokenizer_path, run.eos_id, run.vocab_size)  # as curate sample loads it
    prompts = [""] * config.samples + list(config.sample_prompts)
    out = []
    for k, prompt in enumerate(prompts):
        sampling = SamplingConfig(max_new_tokens=config.sample_max_new_tokens, seed=config.seed + k)
        text, new = trained.complete(prompt, sampling)
        out.append({"prompt": prompt, "seed": sampling.seed, "text": text, "tokens": len(new),
                    "distinct_2": round(distinct_n(new, 2), 4)})
    return out


def write_loss_curve(out: Path) -> str | None:
    """``loss.png``: training loss and validation loss by step, from ``metrics.jsonl``."""
    from curation.report import png

    records = [json.loads(line) for line in (out / METRICS).read_text().splitlines()] if (out / METRICS).is_file() \
        else []
    train_points = [(r["step"], r["loss"]) for r in records if r.get("loss") is not None]
    val_points = [(r["step"], r["val_loss"]) for r in records if r.get("val_loss") is not None]
    if not train_points and not val_points:
        return None

    def draw(ax: Any) -> None:
        if train_points:
            ax.plot(*zip(*train_points), label="training loss", color="#4878a8")
        if val_points:
            ax.plot(*zip(*val_points), "o-", label="validation loss (held out)", color="#d08030")
        ax.set_xlabel("step")
        ax.set_ylabel("nats per token")
        ax.legend()

    (out / "loss.png").write_bytes(png(draw))
    return "loss.png"


def train(run_dir: str | Path, out_dir: str | Path, config: TrainConfig | None = None,
          on_step: Callable[[dict[str, Any]], None] | None = None) -> dict[str, Any]:
    """Train on a curate run; returns the summary also written to ``out_dir/train_summary.json``.

    Args:
        run_dir: A ``curate run`` output folder (manifest.json, shards/, tokenizer/).
        out_dir: Where checkpoints, metrics and the summary go; a checkpoint there is resumed.
        config: Hyper-parameters and run settings.
        on_step: Called on every rank after each optimizer step with ``{"step", "loss"?, ...}``
            (``loss`` on logged steps); an exception from it ends the run like a crash would.
    """
    torch = require_torch()
    from torch.nn.parallel import DistributedDataParallel

    from curation.training.loader import PackedDataset, ShardLoader, merge_states
    from curation.training.model import GPT, GPTConfig

    config = config or TrainConfig()
    run = RunData.open(run_dir)
    out = Path(out_dir)
    want_cuda = config.device == "cuda" or (config.device == "auto" and torch.cuda.is_available())
    if want_cuda and not torch.cuda.is_available():
        raise CurationError("device 'cuda' asked for, but PyTorch sees no CUDA device")
    owns_group = not (torch.distributed.is_available() and torch.distributed.is_initialized())
    dist = _setup_distributed(torch, "cuda" if want_cuda else "cpu")
    device = torch.device("cuda", dist.local_rank) if want_cuda else torch.device("cpu")
    if device.type == "cuda":
        torch.cuda.set_device(device)
        torch.set_float32_matmul_precision("high")  # TF32 for any fp32 matmul left outside autocast
    bf16 = config.precision == "bf16" or (config.precision == "auto" and device.type == "cuda")
    if dist.is_main:
        out.mkdir(parents=True, exist_ok=True)

    torch.manual_seed(config.seed)  # the same initial weights on every rank (DDP also broadcasts them)
    random.seed(config.seed)
    layers, d_model, heads = resolve_shape(config, run)
    model_config = GPTConfig(run.vocab_size, config.seq_len, layers, d_model, heads, config.dropout)
    raw_model = GPT(model_config).to(device)
    n_params, flops_params = raw_model.num_params(), raw_model.flops_params()
    optimizer = torch.optim.AdamW(raw_model.optimizer_groups(config.weight_decay), lr=config.lr,
                                  betas=(config.beta1, config.beta2), eps=config.eps,
                                  fused=device.type == "cuda")
    schedule = WarmupCosine(config.warmup_steps, config.max_steps, config.min_lr_ratio)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, schedule)
    dataset = PackedDataset(run, config.seq_len, rank=dist.rank, world_size=dist.world_size, seed=config.seed,
                            shuffle=config.shuffle, shuffle_window=config.shuffle_window)
    heldout = _heldout(run_dir, config, dist.is_main)
    if dist.is_main:  # the trained model's folder is whole without the run: its tokenizer goes with it
        _copy_tokenizer(run, out / "tokenizer")

    step, tokens_seen = 0, 0
    schedule_changed: dict[str, list[Any]] = {}
    checkpoint_path = out / CHECKPOINT
    if config.resume and checkpoint_path.is_file():
        state = load_checkpoint(torch, checkpoint_path, device)
        if state["model_config"] != model_config.to_dict() or state["world_size"] != dist.world_size:
            raise CheckpointMismatch(checkpoint_path, "it is for another model shape or world size")
        step, tokens_seen = state["step"], state["tokens"]
        if step >= config.max_steps:
            done = _finished_summary(out, step)
            if done is not None:
                if dist.is_main:
                    log.info("%s is already complete: its checkpoint is at step %d (max_steps %d); nothing to "
                             "train, %s kept. A larger max_steps trains on from there.", out, step,
                             config.max_steps, SUMMARY)
                if dist.enabled and owns_group:
                    torch.distributed.destroy_process_group()
                return done
        raw_model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        try:
            dataset.load_state_dict(state["loader"])
        except ValueError as exc:  # another seed or shuffle: its position means nothing here
            raise CheckpointMismatch(checkpoint_path, str(exc)) from None
        _set_rng_state(torch, state["rng"][dist.rank], device)
        # The schedule is this config's, not the checkpoint's (LambdaLR.load_state_dict would restore
        # the old WarmupCosine): a run extended to a larger max_steps follows the new cosine from this
        # step instead of sitting at the old floor. Unchanged settings give the same LRs as before.
        saved = state["config"]
        schedule_changed = {key: [saved.get(key), getattr(config, key)] for key in SCHEDULE_FIELDS
                            if saved.get(key) != getattr(config, key)}
        old_lr = optimizer.param_groups[0]["lr"]
        for group in optimizer.param_groups:
            group["initial_lr"] = config.lr
        scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, schedule, last_epoch=step - 1)
        if dist.is_main:
            log.info("resumed from %s at step %d", checkpoint_path, step)
            if schedule_changed:
                log.info("LR schedule rebuilt for %s: LR %.2e at step %d (the checkpoint's schedule had %.2e)",
                         ", ".join(f"{k} {a} -> {b}" for k, (a, b) in schedule_changed.items()),
                         scheduler.get_last_lr()[0], step, old_lr)
    try:
        loader = ShardLoader(dataset, config.batch_size, config.num_workers, pin_memory=device.type == "cuda")
    except ValueError as exc:  # only a resumed position has a consumer count to disagree with
        raise CheckpointMismatch(checkpoint_path, str(exc)) from None

    model = ddp = raw_model
    if dist.enabled:
        model = ddp = DistributedDataParallel(raw_model, device_ids=[device.index] if device.type == "cuda" else None)
    if config.compile:
        model = torch.compile(model)

    gpu_key = config.gpu or (detect_gpu(torch.cuda.get_device_name(device), torch.cuda.get_device_properties(device)
                                        .total_memory) if device.type == "cuda" else None)
    peak = config.peak_flops or (budget.resolve_gpu(gpu_key).peak_bf16_flops if gpu_key else None)
    report = run.budget()
    planner_mfu = report["assumptions"]["mfu"] if report else budget.DEFAULT_MFU
    tokens_per_step = config.batch_size * config.seq_len * config.grad_accum * dist.world_size

    metrics_path = out / METRICS
    logged: list[dict[str, Any]] = []
    if dist.is_main:  # keep the log consistent with the checkpoint: drop steps a crash lost
        kept = [line for line in (metrics_path.read_text().splitlines() if metrics_path.is_file() and step else [])
                if json.loads(line)["step"] <= step]
        write_text(metrics_path, "".join(line + "\n" for line in kept))
        logged = [record for record in map(json.loads, kept) if "loss" in record]

    def checkpoint() -> None:
        loader_states = _gather(torch, dist, loader.state_dict())
        rng_states = _gather(torch, dist, _rng_state(torch, device))
        if dist.is_main:
            save_checkpoint(torch, checkpoint_path, {
                "format": CHECKPOINT_FORMAT, "step": step, "tokens": tokens_seen,
                "config": config.model_dump(), "model_config": model_config.to_dict(),
                "world_size": dist.world_size, "model": raw_model.state_dict(),
                "optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(),
                "loader": merge_states(loader_states), "rng": rng_states,
            })
        if dist.enabled:
            torch.distributed.barrier()

    autocast = (lambda: torch.autocast(device.type, dtype=torch.bfloat16)) if bf16 else contextlib.nullcontext

    def validate() -> dict[str, Any]:
        from curation.training.evaluate import evaluate, figures

        nats, count = evaluate(raw_model, heldout, run.vocab_size, config.batch_size, dist.rank, dist.world_size,
                               autocast)
        if dist.enabled:
            sums = torch.tensor([nats, float(count)], dtype=torch.float64, device=device)
            torch.distributed.all_reduce(sums)
            nats, count = float(sums[0]), int(sums[1])
        return figures(nats, count, heldout)

    last_val: dict[str, Any] = {}
    batches = iter(loader)
    model.train()
    start_step, started = step, time.perf_counter()
    interval_start, interval_steps, rates = started, 0, []
    loss_sum = torch.zeros((), device=device)
    last_loss, stopped = None, None
    if step >= config.max_steps:  # finished, but its summary is lost: report from the metrics log
        rates = [r["tokens_per_s"] for r in logged]
        last_loss = logged[-1]["loss"] if logged else None
    with open(metrics_path, "a") if dist.is_main else contextlib.nullcontext() as metrics:
        while step < config.max_steps:
            for micro in range(config.grad_accum):
                tokens = next(batches).to(device, non_blocking=True)
                # DDP all-reduces gradients only on the last micro-batch of a step.
                sync = micro == config.grad_accum - 1 or not dist.enabled
                with contextlib.nullcontext() if sync else ddp.no_sync():
                    with autocast():
                        loss = model(tokens[:, :-1], tokens[:, 1:])
                    (loss / config.grad_accum).backward()
                loss_sum += loss.detach() / config.grad_accum
            grad_norm = torch.nn.utils.clip_grad_norm_(raw_model.parameters(), config.grad_clip)
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
            scheduler.step()
            step += 1
            tokens_seen += tokens_per_step
            interval_steps += 1
            record: dict[str, Any] = {"step": step}
            if step % config.log_every == 0 or step == config.max_steps:
                if dist.enabled:
                    torch.distributed.all_reduce(loss_sum)
                    loss_sum /= dist.world_size
                last_loss = loss_sum.item() / interval_steps  # the .item() waits for the device
                now = time.perf_counter()
                rate = interval_steps * tokens_per_step / (now - interval_start)
                rates.append(rate)
                record.update(loss=last_loss, lr=scheduler.get_last_lr()[0], grad_norm=float(grad_norm),
                              tokens=tokens_seen, tokens_per_s=rate,
                              mfu=budget.TRAINING_FLOPS_PER_PARAM_TOKEN * flops_params * rate / dist.world_size / peak
                              if peak else None)
                if metrics is not None:
                    log.info("step %d  loss %.4f  lr %.2e  %.0f tokens/s%s", step, last_loss, record["lr"], rate,
                             f"  MFU {record['mfu']:.1%}" if peak else "")
                loss_sum.zero_()
                interval_start, interval_steps = now, 0
            if heldout is not None and ((config.eval_every and step % config.eval_every == 0)
                                        or step == config.max_steps):
                eval_start = time.perf_counter()
                last_val = {"step": step, **validate()}
                record.update({k: v for k, v in last_val.items() if k != "step"})
                interval_start += time.perf_counter() - eval_start  # validation is not training throughput
                if metrics is not None:
                    log.info("step %d  val loss %.4f  val bpb %.4f", step, last_val["val_loss"], last_val["val_bpb"])
            if metrics is not None and len(record) > 1:
                metrics.write(json.dumps(record) + "\n")
                metrics.flush()
            if on_step is not None:
                on_step(record)
            # The clock is read on logged steps only: they wait for the device anyway, other steps
            # must not. A signal is a flag, seen at once on one process.
            reason = (STOP_TIME if config.max_seconds is not None and "loss" in record
                      and time.perf_counter() - started > config.max_seconds else 0)
            if _stop.signum is not None and (not dist.enabled or "loss" in record):
                reason = STOP_SIGNAL
            if dist.enabled and "loss" in record:  # all ranks stop together, at a step they all log
                flag = torch.tensor(float(reason), device=device)
                torch.distributed.all_reduce(flag, op=torch.distributed.ReduceOp.MAX)
                reason = int(flag.item())
            if reason:
                stopped = "max_seconds" if reason == STOP_TIME else (
                    signal.Signals(_stop.signum).name if _stop.signum is not None else "signal")
            if stopped or (config.checkpoint_every and step % config.checkpoint_every == 0):
                checkpoint()
            if stopped:
                break
    elapsed = time.perf_counter() - started
    if step > start_step and not (config.checkpoint_every and step % config.checkpoint_every == 0) and not stopped:
        checkpoint()
    if heldout is not None and last_val.get("step") != step:  # stopped early, or a finished run's summary was lost
        last_val = {"step": step, **validate()}
        if dist.is_main:
            with open(metrics_path, "a") as metrics:
                metrics.write(json.dumps(last_val) + "\n")
    if stopped and dist.is_main:
        log.warning("stopped (%s) at step %d of %d with a checkpoint in %s; the same command resumes it",
                    stopped, step, config.max_steps, out)

    # The first interval holds start-up and compilation; steady throughput is the median after it.
    steady = statistics.median(rates[1:] if len(rates) > 1 else rates) if rates else None
    mfu = (budget.TRAINING_FLOPS_PER_PARAM_TOKEN * flops_params * steady / dist.world_size / peak
           if peak and steady else None)
    summary = {
        "steps": step, "steps_this_run": step - start_step, "tokens": tokens_seen, "final_loss": last_loss,
        "seconds_this_run": elapsed, "tokens_per_s": steady,
        "tokens_per_s_per_device": steady / dist.world_size if steady else None,
        "params": n_params, "flops_params": flops_params,
        "model": model_config.to_dict(), "world_size": dist.world_size, "device": str(device),
        "device_name": torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu",
        "precision": "bf16" if bf16 else "fp32", "compiled": config.compile,
        "gpu": gpu_key, "peak_flops": peak, "mfu": mfu, "planner_mfu": planner_mfu,
        "mfu_vs_planner": mfu / planner_mfu if mfu else None,
        "peak_memory_gb": _peak_memory_gb(torch, device),
        "stopped": stopped, "resumed_at_step": start_step if start_step else None,
        "schedule_changed": schedule_changed or None,
        "config": config.model_dump(),
        "run": str(Path(run_dir).resolve()),  # what curate evaluate reads by default
        "heldout_documents": heldout.documents if heldout else 0,
        "unigram_bpb": heldout.unigram_bpb() if heldout else None,
        **{k: last_val.get(k) for k in ("val_loss", "val_ppl", "val_bpb", "val_tokens")},
    }
    if dist.is_main:
        summary["samples"] = end_samples(raw_model, run, config)
        summary["loss_curve"] = write_loss_curve(out)
        write_text(out / SUMMARY, json.dumps(summary, indent=2, sort_keys=True) + "\n")
        if mfu:
            log.info("measured MFU %.1f%% vs the planner's assumed %.0f%%: at this MFU training takes %.2fx the "
                     "GPU-hours budget.json plans", mfu * 100, planner_mfu * 100, planner_mfu / mfu)
    if dist.enabled and owns_group:
        torch.distributed.destroy_process_group()
    return summary
