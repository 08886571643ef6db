"""A local tokenizer and a tiny Llama-style student, built from scratch (no hub downloads).

The tokenizer is a byte-level BPE trained with the ``tokenizers`` library on the KG's names and the
question texts, so every name round-trips exactly (``decode(encode(name)) == name``) and the path
markers are special tokens. The student is a ``LlamaForCausalLM`` from a config with random weights;
its head_dim is 64 because vLLM's CPU attention backend does not support smaller heads.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path as FsPath
from typing import Any

from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
from transformers import PreTrainedTokenizerFast

from decoding.pathformat import COMPACT_PROMPT, add_path_tokens, build_prompt, set_prompt_template
from kg.errors import ConfigError
from kg.store import GraphStore

BOS, EOS, PAD, UNK = "<s>", "</s>", "<pad>", "<unk>"


def train_tokenizer(
    texts: Iterable[str],
    out_dir: str | os.PathLike[str],
    vocab_size: int = 4000,
    prompt: str = COMPACT_PROMPT,
) -> PreTrainedTokenizerFast:
    """Train a byte-level BPE on ``texts`` and save it (``tokenizer.json`` based) to ``out_dir``.

    ``prompt`` is recorded in the tokenizer (``decoding.pathformat.PROMPT_TEMPLATE_KEY``): the student
    is trained and decoded with it.
    """
    tok = Tokenizer(models.BPE(unk_token=None, byte_fallback=False))
    # no prefix space: a name encoded alone must decode to exactly itself
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        min_frequency=2,
        special_tokens=[PAD, BOS, EOS, UNK],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),  # every byte encodable: no unknowns
        show_progress=False,
    )
    tok.train_from_iterator((t for t in texts if t), trainer=trainer)
    bos_id = tok.token_to_id(BOS)
    # prompts start with BOS (add_special_tokens=True); plain name encodings get nothing added
    tok.post_processor = processors.TemplateProcessing(
        single=f"{BOS} $A", pair=f"{BOS} $A {BOS} $B", special_tokens=[(BOS, bos_id)]
    )
    hf = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        bos_token=BOS,
        eos_token=EOS,
        pad_token=PAD,
        unk_token=UNK,
        clean_up_tokenization_spaces=False,  # " 's" etc. must survive decoding
        padding_side="left",  # batched generation pads on the left
        model_max_length=512,
    )
    add_path_tokens(hf)
    set_prompt_template(hf, prompt)
    out = FsPath(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    hf.save_pretrained(str(out))
    return hf


def init_student(
    tokenizer_or_dir: Any,
    out_dir: str | os.PathLike[str],
    hidden_size: int = 128,
    layers: int = 2,
    heads: int = 2,
    intermediate: int = 256,
    max_position: int = 512,
    seed: int = 0,
) -> FsPath:
    """Save a randomly initialised Llama student (safetensors + config + tokenizer) to ``out_dir``."""
    import torch
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

    tokenizer = (
        AutoTokenizer.from_pretrained(str(tokenizer_or_dir))
        if isinstance(tokenizer_or_dir, str | os.PathLike)
        else tokenizer_or_dir
    )
    if hidden_size % heads:
        raise ConfigError(f"hidden_size {hidden_size} is not a multiple of heads {heads}")
    head_dim = hidden_size // heads
    if head_dim not in (64, 80, 96, 112, 128, 256):
        raise ConfigError(f"head_dim {head_dim} is not supported by vLLM's CPU backend; use 64")
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=hidden_size,
        intermediate_size=intermediate,
        num_hidden_layers=layers,
        num_attention_heads=heads,
        num_key_value_heads=heads,
        head_dim=head_dim,
        max_position_embeddings=max_position,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        tie_word_embeddings=False,
        dtype="float32",
    )
    torch.manual_seed(seed)
    model = LlamaForCausalLM(config)
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    out = FsPath(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(str(out), safe_serialization=True)
    tokenizer.save_pretrained(str(out))
    return out


def student_texts_from_store(
    store: GraphStore,
    questions: Sequence[str] = (),
    topics: Sequence[Sequence[str]] = (),
    prompt: str = COMPACT_PROMPT,
) -> Iterator[str]:
    """Tokenizer training texts: every entity and relation name (``_inv`` included), and the prompts."""
    seen: set[str] = set()
    for t in store.iter_triples():
        for name in (t.head, t.tail, t.relation, t.relation + "_inv"):
            if name not in seen:
                seen.add(name)
                yield name
    for i, q in enumerate(questions):
        yield build_prompt(q, topics[i] if i < len(topics) else [], prompt)
