from __future__ import annotations

from pathlib import Path

import pytest
from transformers import AutoModelForCausalLM, AutoTokenizer

from decoding.pathformat import (
    COMPACT_PROMPT,
    GCR_PROMPT,
    PROMPT_TEMPLATE_KEY,
    SPECIAL_TOKENS,
    PathCodec,
    build_prompt,
    set_prompt_template,
)
from kg.errors import ConfigError
from kg.memory_store import MemoryStore


def test_names_round_trip_exactly(codec: PathCodec, pq_store: MemoryStore, metaqa_store: MemoryStore) -> None:
    names = {
        n for s in (pq_store, metaqa_store) for t in s.iter_triples() for n in (t.head, t.relation, t.tail)
    }
    names |= {"Some Mother's Son", "a 's b ?", "Ünïcödé 名前 ✓", "x  y", "->x"}
    for name in names:
        ids = codec.name_ids(name)
        assert codec.decode_name(ids) == name
        assert not codec.special_ids.intersection(ids)


def test_tokenizer_has_specials_and_prompt_starts_with_bos(codec: PathCodec) -> None:
    tok = codec.tokenizer
    assert tok.bos_token_id is not None and tok.pad_token_id is not None and tok.unk_token_id is not None
    assert all(tok.convert_tokens_to_ids(t) != tok.unk_token_id for t in SPECIAL_TOKENS)
    assert codec.prompt_ids("who?", ["a"])[0] == tok.bos_token_id


def test_student_loads_with_head_dim_64(student_dir: Path) -> None:
    model = AutoModelForCausalLM.from_pretrained(str(student_dir))
    tok = AutoTokenizer.from_pretrained(str(student_dir))
    assert model.config.head_dim == 64
    assert model.config.vocab_size == len(tok)
    assert (student_dir / "model.safetensors").exists() and (student_dir / "tokenizer.json").exists()


def test_new_student_records_its_compact_prompt(student_dir: Path) -> None:
    tok = AutoTokenizer.from_pretrained(str(student_dir))
    codec = PathCodec(tok)
    assert codec.prompt_template == COMPACT_PROMPT
    text = tok.decode(codec.prompt_ids("who is x ?", ["x", "y"]), skip_special_tokens=True)
    assert text == build_prompt("who is x ?", ["x", "y"], COMPACT_PROMPT)


def test_a_tokenizer_without_a_recorded_prompt_gets_gcrs(student_dir: Path) -> None:
    tok = AutoTokenizer.from_pretrained(str(student_dir))
    del tok.init_kwargs[PROMPT_TEMPLATE_KEY]  # as an outside checkpoint's tokenizer
    assert PathCodec(tok).prompt_template == GCR_PROMPT
    with pytest.raises(ConfigError, match=PROMPT_TEMPLATE_KEY):
        set_prompt_template(tok, "no placeholders")
