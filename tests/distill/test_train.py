"""Student training: the loss falls, the saved directory reloads with identical logits, resume works."""

from __future__ import annotations

import json
from pathlib import Path as FsPath

import pytest
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

from decoding.pathformat import PathCodec
from distill.traces import Trace
from distill.train import IGNORE, TrainConfig, build_examples, train

pytestmark = pytest.mark.slow


def test_examples_mask_the_prompt(trained_student: tuple[FsPath, list[Trace], dict[str, object]]) -> None:
    out, traces, _ = trained_student
    codec = PathCodec(AutoTokenizer.from_pretrained(out))
    examples, stats = build_examples(traces, codec, 256)
    assert stats["traces"] == len(traces) and stats["paths"] == len(examples)
    first = traces[0]
    prompt = codec.prompt_ids(first.question, first.topic_entities)
    ex = examples[0]
    assert ex.labels[: len(prompt)] == [IGNORE] * len(prompt)
    assert (
        ex.labels[len(prompt) :] == ex.input_ids[len(prompt) :] == codec.encode_output(first.cited_paths()[0])
    )
    assert ex.input_ids[-1] == codec.eos_id


def test_loss_falls_and_reload_is_identical(
    trained_student: tuple[FsPath, list[Trace], dict[str, object]],
) -> None:
    out, _, summary = trained_student
    first, final = summary["first_loss"], summary["final_loss"]
    assert isinstance(first, float) and isinstance(final, float) and final < first * 0.6, summary
    assert (out / "config.json").exists() and (out / "model.safetensors").exists()
    assert (out / "tokenizer.json").exists()
    tok = AutoTokenizer.from_pretrained(out)
    ids = torch.tensor([PathCodec(tok).prompt_ids("who is the spouse of x ?", ["x"])])
    a = AutoModelForCausalLM.from_pretrained(out).eval()
    b = AutoModelForCausalLM.from_pretrained(out).eval()
    with torch.no_grad():
        assert torch.equal(a(ids).logits, b(ids).logits)
    assert json.loads((out / "train_summary.json").read_text())["steps"] == 60


def test_resume_from_checkpoint_matches_uninterrupted_run(
    tmp_path: FsPath, trained_student: tuple[FsPath, list[Trace], dict[str, object]]
) -> None:
    base, traces, _ = trained_student
    traces = traces[:40]
    kw = dict(batch_size=8, lr=3e-3, save_steps=4, progress=False, init_from=str(base / "init"))
    straight = train(TrainConfig(out_dir=str(tmp_path / "a"), max_steps=8, **kw), traces)  # type: ignore[arg-type]
    # an interrupted run: stops at step 5 (checkpoint at 4 and 5), a rerun resumes from 5 and finishes
    part = train(TrainConfig(out_dir=str(tmp_path / "c"), max_steps=8, stop_after=5, **kw), traces)  # type: ignore[arg-type]
    assert part["steps"] == 5 and (tmp_path / "c" / "checkpoints" / "step-5").exists()
    resumed = train(TrainConfig(out_dir=str(tmp_path / "c"), max_steps=8, **kw), traces)  # type: ignore[arg-type]
    assert resumed["resumed_from_step"] == 5 and resumed["steps"] == 8
    ids = torch.tensor([[1, 5, 9, 13, 20]])
    a = AutoModelForCausalLM.from_pretrained(tmp_path / "a").eval()
    c = AutoModelForCausalLM.from_pretrained(tmp_path / "c").eval()
    with torch.no_grad():
        torch.testing.assert_close(a(ids).logits, c(ids).logits, rtol=1e-4, atol=1e-4)
    assert straight["steps"] == 8


def test_lora_and_logit_distillation_save_a_plain_model(
    tmp_path: FsPath, trained_student: tuple[FsPath, list[Trace], dict[str, object]]
) -> None:
    base, traces, _ = trained_student
    cfg = TrainConfig(
        out_dir=str(tmp_path / "lora"),
        init_from=str(base),
        lora=True,
        lora_r=4,
        max_steps=3,
        batch_size=8,
        progress=False,
        distill_teacher=str(base),
        distill_alpha=0.5,
    )
    summary = train(cfg, traces[:20])
    assert summary["steps"] == 3
    saved = json.loads((tmp_path / "lora" / "config.json").read_text())
    assert saved["model_type"] == "llama" and not (tmp_path / "lora" / "adapter_config.json").exists()
    model = AutoModelForCausalLM.from_pretrained(tmp_path / "lora")
    assert not any("lora" in name for name, _ in model.named_parameters())
