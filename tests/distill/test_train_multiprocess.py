"""The training CLI runs unchanged under torchrun: two CPU processes (gloo) train one student together."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path as FsPath

import pytest
import torch
from transformers import AutoModelForCausalLM

from distill.traces import Trace, TraceWriter

pytestmark = pytest.mark.slow


def test_torchrun_two_processes_train_one_student(
    tmp_path: FsPath, trained_student: tuple[FsPath, list[Trace], dict[str, object]]
) -> None:
    base, traces, _ = trained_student
    trace_file = tmp_path / "verified.jsonl"
    with TraceWriter(trace_file, append=False) as writer:
        writer.write_all(traces[:64])
    torchrun = shutil.which("torchrun", path=os.path.dirname(sys.executable))
    kgr = shutil.which("kgr", path=os.path.dirname(sys.executable))
    assert torchrun and kgr, "torchrun and kgr are installed beside the test interpreter"
    out = tmp_path / "student"
    env = {**os.environ, "ACCELERATE_USE_CPU": "1", "OMP_NUM_THREADS": "1"}
    cmd = [torchrun, "--nproc_per_node", "2", "--standalone", kgr, "distill", "train"]
    cmd += ["--traces", str(trace_file), "--out", str(out), "--init-from", str(base / "init")]
    cmd += ["--max-steps", "12", "--batch-size", "8", "--lr", "3e-3", "--save-steps", "6"]
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    summaries = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
    assert len(summaries) == 1, done.stdout  # only the main process reports
    summary = summaries[0]
    assert summary["processes"] == 2 and summary["steps"] == 12, summary
    assert summary["final_loss"] < summary["first_loss"], summary
    # each step saw two batches (one per process): 12 steps of 2 x 8 over 64+ examples is > 1 epoch
    assert summary["epochs_done"] > 1.0, summary
    # the mid-run checkpoint holds both ranks' RNG states, so a resumed run continues each rank's stream
    ckpt = out / "checkpoints" / "step-6"
    assert (ckpt / "trainer_state.json").exists() and (ckpt / "random_states_1.pkl").exists()
    model = AutoModelForCausalLM.from_pretrained(out).eval()
    init = AutoModelForCausalLM.from_pretrained(base / "init").eval()
    ids = torch.tensor([[1, 5, 9, 13, 20]])
    with torch.no_grad():
        assert not torch.equal(model(ids).logits, init(ids).logits)
