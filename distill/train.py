"""Student training on verified path traces.

One example per verified path: prompt = ``PathCodec.prompt_ids(question, topics)``, target =
``codec.encode_output(path)`` (path, answer, EOS); the loss is on the target only, with the tokens of
entities reached by a step weighted by ``entity_loss_weight`` (``decoding.pathformat.entity_positions``).
A custom loop on ``accelerate.Accelerator`` runs unchanged on CPU, one GPU, or several (``accelerate
launch`` / ``torchrun``; several CPU processes need ``ACCELERATE_USE_CPU=1``). Options: LoRA (merged on
save), logit distillation from a local teacher with the same tokenizer (KL mixed with CE). Checkpoints
hold model, optimizer, scheduler and RNG state; a rerun with ``resume=True`` continues from the last one.
The output directory is a plain HF model + tokenizer.
"""

from __future__ import annotations

import json
import math
import os
import random
import shutil
import time
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path as FsPath
from typing import Any, cast

import torch
import torch.nn.functional as F
from tqdm import tqdm

from decoding.pathformat import PathCodec, add_path_tokens, entity_positions
from distill.traces import Trace
from distill.verify import training_paths
from kg.errors import ConfigError, InputError

IGNORE = -100
LORA_TARGETS = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]


@dataclass
class TrainConfig:
    out_dir: str
    init_from: str | None = None  # HF model directory; None: a new student from distill.student_init
    # new student (only when init_from is None)
    vocab_size: int = 8000
    hidden_size: int = 256
    layers: int = 4
    heads: int = 4
    intermediate: int = 768
    # optimisation
    epochs: float = 3.0
    max_steps: int | None = None  # optimizer steps; overrides epochs
    batch_size: int = 32
    grad_accum: int = 1
    lr: float = 1e-3
    weight_decay: float = 0.0
    warmup_ratio: float = 0.03
    max_length: int = 256
    max_paths_per_trace: int = 4  # caps one-to-many questions so they do not dominate
    # Loss weight of entity tokens after hop 0: which of a relation's tails a trace went through is
    # mostly noise to the student (the constraint offers the tails, relative scoring makes the best
    # free); a weight below 1 leaves the gradient to relations and stop decisions.
    entity_loss_weight: float = 1.0
    length_group: int = 50  # batches per length-sorted window (``epoch_order``); 1: plain shuffle
    seed: int = 0
    # checkpoints
    save_steps: int = 200
    keep_checkpoints: int = 2
    resume: bool = True
    stop_after: int | None = None  # end this run at that step (checkpointed); the schedule spans all steps
    max_seconds: float | None = None  # wall-clock guard: stop (checkpointed) when a step ends past it
    # options
    lora: bool = False
    lora_r: int = 16
    lora_alpha: int = 32
    lora_dropout: float = 0.05
    distill_teacher: str | None = None  # local model dir with the same tokenizer
    distill_alpha: float = 0.5  # weight of the KL term
    distill_temperature: float = 2.0
    progress: bool = True
    log_every: int = 20
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Example:
    input_ids: list[int]
    labels: list[int]
    weights: list[float] | None = None  # per-token loss weights (None: all 1)


def build_examples(
    traces: Iterable[Trace],
    codec: PathCodec,
    max_length: int,
    max_paths_per_trace: int = 4,
    entity_loss_weight: float = 1.0,
) -> tuple[list[Example], dict[str, int]]:
    """Examples from verified traces; counts of traces used, paths used and examples cut for length."""
    out: list[Example] = []
    stats = {"traces": 0, "paths": 0, "too_long": 0}
    for trace in traces:
        paths = training_paths(trace)[:max_paths_per_trace]
        if not paths:
            continue
        stats["traces"] += 1
        prompt = codec.prompt_ids(trace.question, trace.topic_entities)
        for path in paths:
            target = codec.encode_output(path)
            if len(prompt) + len(target) > max_length:
                stats["too_long"] += 1
                continue
            weights = None
            if entity_loss_weight != 1.0:
                marks = entity_positions(target, codec.start_id, codec.sep_id, codec.end_id)
                weights = [0.0] * len(prompt) + [entity_loss_weight if m else 1.0 for m in marks]
            out.append(Example(prompt + target, [IGNORE] * len(prompt) + target, weights))
            stats["paths"] += 1
    return out, stats


def collate(batch: Sequence[Example], pad_id: int) -> dict[str, torch.Tensor]:
    """Left-padded batch: every response ends at the last column, so logits are only needed there."""
    width = max(len(e.input_ids) for e in batch)
    ids = torch.full((len(batch), width), pad_id, dtype=torch.long)
    labels = torch.full((len(batch), width), IGNORE, dtype=torch.long)
    mask = torch.zeros((len(batch), width), dtype=torch.long)
    weighted = any(e.weights is not None for e in batch)
    weights = torch.zeros((len(batch), width), dtype=torch.float) if weighted else None
    for i, e in enumerate(batch):
        n = len(e.input_ids)
        ids[i, width - n :] = torch.tensor(e.input_ids)
        labels[i, width - n :] = torch.tensor(e.labels)
        mask[i, width - n :] = 1
        if weights is not None:
            weights[i, width - n :] = torch.tensor(e.weights) if e.weights is not None else 1.0
    # positions as generate() computes them for left-padded prompts
    positions = (mask.cumsum(-1) - 1).clamp(min=0)
    response = int((labels != IGNORE).sum(-1).max())
    out = {
        "input_ids": ids,
        "labels": labels,
        "attention_mask": mask,
        "position_ids": positions,
        "keep": torch.tensor(response + 1),  # logits for the last token of the prompt onwards
    }
    if weights is not None:  # only examples built with an entity loss weight carry any
        out["weights"] = weights
    return out


def response_loss(
    logits: torch.Tensor,
    labels: torch.Tensor,
    teacher_logits: torch.Tensor | None = None,
    alpha: float = 0.0,
    temperature: float = 1.0,
    weights: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """(loss, CE) over response tokens; with a teacher, (1-alpha)*CE + alpha*T^2*KL(teacher||student).

    ``weights`` (as ``labels``) make the CE term a weighted mean; the returned CE stays unweighted, so
    logged losses compare across weightings."""
    shift_logits = logits[:, :-1].float()
    shift_labels = labels[:, 1:]
    keep = shift_labels != IGNORE
    per_token = F.cross_entropy(shift_logits[keep], shift_labels[keep], reduction="none")
    ce = per_token.mean()
    fit = ce
    if weights is not None:
        w = weights[:, 1:][keep]
        fit = (per_token * w).sum() / w.sum().clamp(min=1e-8)
    if teacher_logits is None or alpha <= 0:
        return fit, ce
    t = temperature
    student_logp = F.log_softmax(shift_logits[keep] / t, dim=-1)
    teacher_logp = F.log_softmax(teacher_logits[:, :-1].float()[keep] / t, dim=-1)
    kl = F.kl_div(student_logp, teacher_logp, log_target=True, reduction="batchmean") * t * t
    return (1 - alpha) * fit + alpha * kl, ce


def new_student(cfg: TrainConfig, tokenizer_texts: Iterable[str]) -> str:
    """Tokenizer trained on the KG names + questions, tiny Llama from config; returns its directory."""
    from distill.student_init import init_student, train_tokenizer

    init_dir = FsPath(cfg.out_dir) / "init"
    if (init_dir / "config.json").exists():
        return str(init_dir)  # resumed run: reuse the same tokenizer and initial weights
    tokenizer = train_tokenizer(tokenizer_texts, init_dir / "tokenizer", cfg.vocab_size)
    init_student(
        tokenizer,
        init_dir,
        hidden_size=cfg.hidden_size,
        layers=cfg.layers,
        heads=cfg.heads,
        intermediate=cfg.intermediate,
        seed=cfg.seed,
    )
    shutil.rmtree(init_dir / "tokenizer", ignore_errors=True)
    return str(init_dir)


def _load_model(model_dir: str) -> tuple[Any, Any]:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32)
    if add_path_tokens(tokenizer):  # an outside checkpoint: make room for the path markers
        model.resize_token_embeddings(len(tokenizer))
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
    return model, tokenizer


def _checkpoints(out_dir: FsPath) -> list[FsPath]:
    root = out_dir / "checkpoints"
    found = [p for p in root.glob("step-*") if (p / "trainer_state.json").exists()] if root.exists() else []
    return sorted(found, key=lambda p: int(p.name.split("-")[1]))


def epoch_order(lengths: Sequence[int], batch_size: int, seed: int, epoch: int, group: int = 50) -> list[int]:
    """A seeded shuffle whose batches hold examples of similar length (less padding per batch).

    As transformers' ``group_by_length``: the shuffled examples are cut into windows of ``group``
    batches, each window is sorted by length and cut into batches, and the batch order is shuffled
    again, so a batch is still a random draw from its window. ``group=1``: a plain shuffle.
    """
    rng = random.Random(seed * 1_000_003 + epoch)
    order = list(range(len(lengths)))
    rng.shuffle(order)
    if group <= 1:
        return order
    window = group * batch_size
    batches: list[list[int]] = []
    for start in range(0, len(order), window):
        chunk = sorted(order[start : start + window], key=lambda i: lengths[i])
        batches += [chunk[i : i + batch_size] for i in range(0, len(chunk), batch_size)]
    rng.shuffle(batches)
    return [i for batch in batches for i in batch]


def train(cfg: TrainConfig, traces: Sequence[Trace], tokenizer_texts: Iterable[str] = ()) -> dict[str, Any]:
    """Train and save the student to ``cfg.out_dir``; returns a JSON-able summary."""
    from accelerate import Accelerator
    from accelerate.utils import set_seed
    from transformers import get_cosine_schedule_with_warmup

    started = time.perf_counter()
    out = FsPath(cfg.out_dir)
    accelerator = Accelerator(gradient_accumulation_steps=cfg.grad_accum)
    set_seed(cfg.seed)
    model_dir = cfg.init_from
    if model_dir is None:
        with accelerator.main_process_first():
            model_dir = new_student(cfg, tokenizer_texts) if accelerator.is_main_process else None
        model_dir = model_dir or str(out / "init")
    model, tokenizer = _load_model(model_dir)
    codec = PathCodec(tokenizer)
    examples, ex_stats = build_examples(
        traces, codec, cfg.max_length, cfg.max_paths_per_trace, cfg.entity_loss_weight
    )
    if not examples:
        raise InputError("no training examples: no kept trace has a verified path")
    if cfg.lora:
        from peft import LoraConfig, get_peft_model

        lora = LoraConfig(
            task_type="CAUSAL_LM",
            r=cfg.lora_r,
            lora_alpha=cfg.lora_alpha,
            lora_dropout=cfg.lora_dropout,
            target_modules=LORA_TARGETS,
        )
        model = get_peft_model(model, lora)
    teacher = None
    if cfg.distill_teacher:
        teacher, teacher_tok = _load_model(cfg.distill_teacher)
        if len(teacher_tok) != len(tokenizer):
            raise ConfigError("logit distillation needs the teacher to share the student's tokenizer")
        teacher.eval().requires_grad_(False)
        teacher = teacher.to(accelerator.device)

    lengths = [len(e.input_ids) for e in examples]
    per_epoch = math.ceil(len(examples) / (cfg.batch_size * accelerator.num_processes))
    steps_per_epoch = max(1, per_epoch // cfg.grad_accum)
    total_steps = cfg.max_steps or max(1, int(steps_per_epoch * cfg.epochs))
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    scheduler = get_cosine_schedule_with_warmup(optimizer, int(total_steps * cfg.warmup_ratio), total_steps)
    model, optimizer, scheduler = accelerator.prepare(model, optimizer, scheduler)

    step, epoch, batch_in_epoch = 0, 0, 0
    ckpts = _checkpoints(out) if cfg.resume else []
    if ckpts:
        accelerator.load_state(str(ckpts[-1]))
        state = json.loads((ckpts[-1] / "trainer_state.json").read_text())
        step, epoch, batch_in_epoch = state["step"], state["epoch"], state["batch_in_epoch"]
    resumed_from = step

    losses: list[float] = []
    first_loss: float | None = None
    bar = tqdm(
        total=total_steps,
        initial=step,
        desc="train",
        unit="step",
        disable=not (cfg.progress and accelerator.is_local_main_process),
    )
    model.train()
    while step < total_steps:
        order = epoch_order(lengths, cfg.batch_size, cfg.seed, epoch, cfg.length_group)
        loader: Any = torch.utils.data.DataLoader(
            cast(Any, [examples[i] for i in order]),
            batch_size=cfg.batch_size,
            shuffle=False,
            collate_fn=lambda b: collate(b, int(tokenizer.pad_token_id)),
        )
        loader = accelerator.prepare(loader)
        if batch_in_epoch:
            loader = accelerator.skip_first_batches(loader, batch_in_epoch)
        for batch in loader:
            with accelerator.accumulate(model):
                keep = int(batch["keep"])
                inputs = {k: batch[k] for k in ("input_ids", "attention_mask", "position_ids")}
                logits = model(**inputs, logits_to_keep=keep).logits
                t_logits = None
                if teacher is not None:
                    with torch.no_grad():
                        t_logits = teacher(**inputs, logits_to_keep=keep).logits
                loss, ce = response_loss(
                    logits,
                    batch["labels"][:, -keep:],
                    t_logits,
                    cfg.distill_alpha,
                    cfg.distill_temperature,
                    batch["weights"][:, -keep:] if "weights" in batch else None,
                )
                accelerator.backward(loss)
                if accelerator.sync_gradients:
                    accelerator.clip_grad_norm_(params, 1.0)
                optimizer.step()
                scheduler.step()
                optimizer.zero_grad()
            batch_in_epoch += 1
            if not accelerator.sync_gradients:
                continue
            step += 1
            value = float(accelerator.gather(ce.detach()).mean())
            first_loss = value if first_loss is None else first_loss
            losses.append(value)
            bar.update(1)
            if step % cfg.log_every == 0 or step == total_steps:
                bar.set_postfix(loss=f"{sum(losses[-cfg.log_every :]) / len(losses[-cfg.log_every :]):.4f}")
            stopping = (cfg.stop_after is not None and step >= cfg.stop_after) or (
                cfg.max_seconds is not None and time.perf_counter() - started > cfg.max_seconds
            )
            if step < total_steps and (stopping or (cfg.save_steps and step % cfg.save_steps == 0)):
                _save_checkpoint(accelerator, out, cfg, step, epoch, batch_in_epoch)
            if step >= total_steps or stopping:
                break
        else:
            epoch, batch_in_epoch = epoch + 1, 0
            continue
        break
    bar.close()

    accelerator.wait_for_everyone()
    if accelerator.is_main_process:
        final = accelerator.unwrap_model(model)
        if cfg.lora:
            final = final.merge_and_unload()
        final.save_pretrained(str(out), safe_serialization=True)
        tokenizer.save_pretrained(str(out))
    tail = losses[-cfg.log_every :] if losses else []
    summary = {
        "out_dir": str(out),
        "init_from": model_dir,
        "examples": len(examples),
        **{f"examples_{k}": v for k, v in ex_stats.items()},
        "steps": step,
        "resumed_from_step": resumed_from,
        "epochs_done": round(step / steps_per_epoch, 3),
        "first_loss": first_loss,
        "final_loss": sum(tail) / len(tail) if tail else None,
        "seconds": round(time.perf_counter() - started, 1),
        "processes": accelerator.num_processes,
        "device": str(accelerator.device),
        "config": {k: v for k, v in asdict(cfg).items() if k != "extra"},
    }
    if accelerator.is_main_process:
        (out / "train_summary.json").write_text(json.dumps(summary, indent=2))
    return summary


def _save_checkpoint(
    accelerator: Any, out: FsPath, cfg: TrainConfig, step: int, epoch: int, batch: int
) -> None:
    path = out / "checkpoints" / f"step-{step}"
    accelerator.save_state(str(path))
    if accelerator.is_main_process:
        state = {"step": step, "epoch": epoch, "batch_in_epoch": batch}
        (path / "trainer_state.json").write_text(json.dumps(state))
        for old in _checkpoints(out)[: -cfg.keep_checkpoints or None]:
            shutil.rmtree(old, ignore_errors=True)
    accelerator.wait_for_everyone()


def set_threads_from_env() -> None:
    """CPU runs on a shared box: honour OMP_NUM_THREADS for torch's intra-op pool."""
    n = os.environ.get("OMP_NUM_THREADS")
    if n and n.isdigit():
        torch.set_num_threads(int(n))
