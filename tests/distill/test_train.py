"""Student training: the loss falls, the saved directory reloads with identical logits, resume works."""

from __future__ import annotations

import json
from pathlib import Path as FsPath

import pytest
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

from decoding.pathformat import PathCodec, entity_positions
from distill.traces import Trace
from distill.train import IGNORE, TrainConfig, build_examples, collate, response_loss, train
from kg.types import Path

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


def test_entity_loss_weight_marks_the_tails_a_step_reached(
    trained_student: tuple[FsPath, list[Trace], dict[str, object]],
) -> None:
    out, traces, _ = trained_student
    codec = PathCodec(AutoTokenizer.from_pretrained(out))
    path = Path(("martha_bulloch", "theodore_roosevelt_sr", "male"), ("spouse", "gender"))
    target = codec.encode_output(path)
    marks = entity_positions(target, codec.start_id, codec.sep_id, codec.end_id)
    names = [codec.name_ids(n) for n in ("theodore_roosevelt_sr", "male")]
    assert [t for t, m in zip(target, marks, strict=True) if m] == [*names[0], *names[1]]
    # the topic, the relations, the markers and the answer after </PATH> are not marked
    assert not any(marks[: 1 + len(codec.name_ids("martha_bulloch"))]) and not any(marks[-4:])

    plain, _ = build_examples(traces[:8], codec, 256, 2)
    weighted, _ = build_examples(traces[:8], codec, 256, 2, entity_loss_weight=0.25)
    assert plain[0].weights is None and weighted[0].input_ids == plain[0].input_ids
    w = weighted[0].weights
    assert w is not None and set(w) == {0.0, 0.25, 1.0} and len(w) == len(weighted[0].labels)
    batch = collate(weighted, int(codec.tokenizer.pad_token_id))
    torch.manual_seed(0)
    logits = torch.randn(*batch["labels"].shape, codec.vocab_size)
    ones = torch.where(batch["labels"] != IGNORE, 1.0, 0.0)
    fit, ce = response_loss(logits, batch["labels"], weights=ones)
    torch.testing.assert_close(fit, ce)  # all-ones weights: the plain mean
    fit, ce2 = response_loss(logits, batch["labels"], weights=batch["weights"])
    assert torch.equal(ce, ce2) and not torch.isclose(fit, ce)  # logged CE stays unweighted


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
