"""Training step cost, side by side: GCR's prompt with plain shuffling vs the compact prompt with
length-grouped batches (``distill.train.epoch_order``), on the accuracy benchmark's verified traces.

Every variant trains the same initial student for the same number of batches of the same size; the
figures are tokens per example, padding efficiency (real / padded tokens) and seconds per step.

    .venv/bin/python bench/train_step.py --student artifacts/student-bench --steps 60
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path as FsPath

import torch

ROOT = FsPath(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from decoding.pathformat import COMPACT_PROMPT, GCR_PROMPT, PathCodec, set_prompt_template  # noqa: E402
from distill.traces import iter_traces  # noqa: E402
from distill.train import build_examples, collate, epoch_order, response_loss, set_threads_from_env  # noqa: E402

VARIANTS = (
    ("gcr prompt, plain shuffle", GCR_PROMPT, 1),
    ("compact prompt, length-grouped", COMPACT_PROMPT, 50),
)


def measure(student: FsPath, template: str, group: int, steps: int, batch_size: int) -> dict[str, float]:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(student))
    set_prompt_template(tokenizer, template)
    traces = [t for f in sorted((student / "traces").glob("*.verified.jsonl")) for t in iter_traces(f)]
    examples, _ = build_examples(traces, PathCodec(tokenizer), 256, 2)
    lengths = [len(e.input_ids) for e in examples]
    order = epoch_order(lengths, batch_size, seed=0, epoch=0, group=group)
    padded = sum(
        max(lengths[i] for i in order[j : j + batch_size]) * len(order[j : j + batch_size])
        for j in range(0, len(order), batch_size)
    )
    init = student / "init" if (student / "init" / "config.json").exists() else student
    model = AutoModelForCausalLM.from_pretrained(str(init), dtype=torch.float32).train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4)
    batches = [
        collate([examples[i] for i in order[j : j + batch_size]], int(tokenizer.pad_token_id))
        for j in range(0, steps * batch_size, batch_size)
    ]
    started = time.perf_counter()
    for b in batches:
        keep = int(b["keep"])
        inputs = {k: b[k] for k in ("input_ids", "attention_mask", "position_ids")}
        loss, _ = response_loss(
            model(**inputs, logits_to_keep=keep).logits, b["labels"][:, -keep:], None, 0, 1
        )
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
    return {
        "tokens_per_example": round(sum(lengths) / len(lengths), 1),
        "padding_efficiency": round(sum(lengths) / padded, 3),
        "seconds_per_step": round((time.perf_counter() - started) / steps, 3),
    }


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--student", default=str(ROOT / "artifacts" / "student-bench"))
    p.add_argument("--steps", type=int, default=60)
    p.add_argument("--batch-size", type=int, default=32)
    args = p.parse_args()
    set_threads_from_env()
    rows = {
        name: measure(FsPath(args.student), template, group, args.steps, args.batch_size)
        for name, template, group in VARIANTS
    }
    base, new = (rows[name]["seconds_per_step"] for name, _, _ in VARIANTS)
    print(json.dumps({"threads": torch.get_num_threads(), "variants": rows, "speedup": round(base / new, 2)}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
