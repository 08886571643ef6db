"""The path text format shared by decoding and training, at the token level.

A student's output is ``<PATH> e0 -> r1 -> e1 ... -> eH </PATH>`` then the answer entity then EOS. The
markers and the separator are special tokens; every entity and relation name is tokenized on its own
(``name_ids``), so the output token ids are a concatenation that follows from graph structure alone and
the constraint can be checked token by token. Training targets are built with the same ``encode_output``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Literal

from kg.errors import ConfigError
from kg.types import Path

PATH_START = "<PATH>"
PATH_END = "</PATH>"
SEPARATOR = "->"
SPECIAL_TOKENS = (PATH_START, PATH_END, SEPARATOR)

# GCR's instruction prompt: the default, so checkpoints trained with it keep working unchanged.
GCR_PROMPT = (
    "Reasoning path is a sequence of triples in the KG that connects the topic entities in the question "
    "to answer entities. Given a question, please generate some reasoning paths in the KG starting from "
    "the topic entities to answer the question.\n# Question:\n{question}\n# Topic entities:\n{topics}\n"
    "# Reasoning Path:\n"
)
# Students trained from scratch drop the fixed instruction: it carries nothing a from-scratch model can
# use and was ~40% of every training example's tokens.
COMPACT_PROMPT = "# Question:\n{question}\n# Topic entities:\n{topics}\n# Reasoning Path:\n"
# The tokenizer_config.json key that records a student's prompt, so it travels with the model directory.
PROMPT_TEMPLATE_KEY = "path_prompt_template"


def build_prompt(question: str, topic_entities: Sequence[str], template: str = GCR_PROMPT) -> str:
    return template.format(question=question.strip(), topics=", ".join(topic_entities))


def prompt_template(tokenizer: Any) -> str:
    """The prompt a student was trained with (``PROMPT_TEMPLATE_KEY``), else GCR's."""
    template = getattr(tokenizer, "init_kwargs", {}).get(PROMPT_TEMPLATE_KEY) or GCR_PROMPT
    if not isinstance(template, str) or "{question}" not in template or "{topics}" not in template:
        raise ConfigError(
            f"tokenizer's {PROMPT_TEMPLATE_KEY} must be a string with {{question}} and {{topics}}"
        )
    return template


def set_prompt_template(tokenizer: Any, template: str) -> None:
    """Record ``template`` in the tokenizer; ``save_pretrained`` writes it to tokenizer_config.json."""
    tokenizer.init_kwargs[PROMPT_TEMPLATE_KEY] = template
    prompt_template(tokenizer)  # validates


def add_path_tokens(tokenizer: Any) -> int:
    """Register the markers and separator as special tokens; returns how many were new."""
    return int(tokenizer.add_special_tokens({"additional_special_tokens": list(SPECIAL_TOKENS)}))


@dataclass(frozen=True)
class ParsedOutput:
    """What a generated id sequence says: the path (if well formed) and the answer after it."""

    path: Path | None
    answer: str | None
    complete: bool  # reached </PATH>, an answer and EOS


class PathCodec:
    """Token-level encoder/decoder of the path format for one tokenizer."""

    def __init__(self, tokenizer: Any) -> None:
        self.tokenizer = tokenizer
        ids = tokenizer.convert_tokens_to_ids(list(SPECIAL_TOKENS))
        unk = tokenizer.unk_token_id
        if any(i is None or (unk is not None and i == unk) for i in ids):
            raise ConfigError(
                f"tokenizer lacks the path special tokens {SPECIAL_TOKENS}; call add_path_tokens first"
            )
        self.start_id, self.end_id, self.sep_id = (int(i) for i in ids)
        if tokenizer.eos_token_id is None:
            raise ConfigError("tokenizer has no EOS token")
        self.eos_id = int(tokenizer.eos_token_id)
        self.special_ids = frozenset((self.start_id, self.end_id, self.sep_id, self.eos_id))
        self.prompt_template = prompt_template(tokenizer)
        self.name_ids = lru_cache(maxsize=1_000_000)(self._name_ids)

    @property
    def vocab_size(self) -> int:
        return len(self.tokenizer)

    def _name_ids(self, name: str) -> tuple[int, ...]:
        """Token ids of one name, encoded alone; never contains a special id."""
        ids = self.tokenizer(name, add_special_tokens=False, split_special_tokens=True)["input_ids"]
        ids = tuple(int(i) for i in ids)
        if not ids or self.special_ids.intersection(ids):
            raise ConfigError(f"name {name!r} does not encode to plain tokens")
        return ids

    def encode_path(self, path: Path) -> list[int]:
        """``<PATH> e0 -> r1 -> e1 ... </PATH>`` as ids."""
        out = [self.start_id, *self.name_ids(path.entities[0])]
        for rel, ent in zip(path.relations, path.entities[1:], strict=True):
            out += [self.sep_id, *self.name_ids(rel), self.sep_id, *self.name_ids(ent)]
        out.append(self.end_id)
        return out

    def encode_output(self, path: Path) -> list[int]:
        """The full student output for one path: path, answer (its end entity), EOS."""
        return [*self.encode_path(path), *self.name_ids(path.end), self.eos_id]

    def prompt_ids(self, question: str, topic_entities: Sequence[str]) -> list[int]:
        text = build_prompt(question, topic_entities, self.prompt_template)
        return [int(i) for i in self.tokenizer(text, add_special_tokens=True)["input_ids"]]

    def decode_name(self, ids: Sequence[int]) -> str:
        return str(self.tokenizer.decode(list(ids), skip_special_tokens=False))

    def parse(self, ids: Sequence[int]) -> ParsedOutput:
        """Parse generated ids (prompt excluded). Tolerates junk: returns ``path=None`` if malformed."""
        ids = list(ids)
        if self.start_id not in ids:
            return ParsedOutput(None, None, False)
        ids = ids[ids.index(self.start_id) + 1 :]
        if self.end_id not in ids:
            return ParsedOutput(None, None, False)
        cut = ids.index(self.end_id)
        body, tail = ids[:cut], ids[cut + 1 :]
        parts: list[list[int]] = [[]]
        for i in body:
            if i == self.sep_id:
                parts.append([])
            else:
                parts[-1].append(i)
        if len(parts) < 3 or len(parts) % 2 == 0 or any(not p for p in parts):
            return ParsedOutput(None, None, False)
        names = [self.decode_name(p) for p in parts]
        path = Path(tuple(names[0::2]), tuple(names[1::2]))
        complete = self.eos_id in tail
        answer_ids = tail[: tail.index(self.eos_id)] if complete else tail
        answer = self.decode_name(answer_ids) if answer_ids else None
        return ParsedOutput(path, answer, complete and answer is not None)


EntityScoring = Literal["raw", "relative"]


def scores_relative(generated: Sequence[int], start_id: int, sep_id: int, end_id: int) -> bool:
    """Whether the next token is scored relative to the best allowed one under ``"relative"`` scoring.

    That is every position inside an entity name (even number of ``->`` since ``<PATH>``) and the forced
    answer after ``</PATH>``. Beam search over raw log-probs prefers relations with few tails: through
    the right relation with 50 tails each entity costs ~log(1/50), through a wrong one-tail relation
    nothing. Making the best entity choice free (``relative_shift``) ranks beams by their relation
    chain and stop decisions while keeping the model's order among entities.
    """
    return start_id in generated and (end_id in generated or list(generated).count(sep_id) % 2 == 0)


def entity_positions(output_ids: Sequence[int], start_id: int, sep_id: int, end_id: int) -> list[bool]:
    """Which tokens of a student output (``encode_output``) spell an entity reached by a step (hop >= 1).

    Those are the student's choice among a relation's tails: the constraint lists them and relative
    entity scoring makes the best one free, so training can weigh them less than relations and stops.
    The topic (hop 0), the markers, the separators and the answer after ``</PATH>`` are not.
    """
    marks: list[bool] = []
    started = ended = False
    seps = 0
    for token in output_ids:
        if token == start_id:
            started = True
        elif token == end_id:
            ended = True
        elif token == sep_id:
            seps += 1
        marks.append(started and not ended and token not in (start_id, sep_id) and seps > 0 and seps % 2 == 0)
    return marks


def stop_mass(raw: Any, sep_id: int, end_id: int) -> Any:
    """log(p(``->``) + p(``</PATH>``)) per row of raw log-probs (or logits): the model's mass on "the
    entity ends here", whichever of the two the constraint still allows."""
    import torch

    return torch.logsumexp(raw[..., [sep_id, end_id]], dim=-1)


def relative_shift(masked: Any, raw: Any, sep_id: int, end_id: int) -> Any:
    """Per row, what ``"relative"`` scoring subtracts so the best entity choice scores 0.

    Inside a name it is the best allowed token. Where the name may end (``->`` or ``</PATH>`` allowed),
    ending it is one entity choice among the longer names, worth the model's whole ``stop_mass`` —
    including the mass of a step the constraint forbids. So a beam at a dead end (no step out is left,
    or the hop limit is reached) pays for the ``->`` the model wanted before its forced ``</PATH>``;
    shifting by the best ALLOWED token made that stop free, and short paths into dead ends beat the
    multi-hop paths the question asked for. Rows with nothing allowed get 0.
    """
    import torch

    ends = masked[:, [sep_id, end_id]]
    may_end = torch.isfinite(ends).any(dim=1)
    names = masked.clone()
    names[:, [sep_id, end_id]] = float("-inf")
    best_name = names.max(dim=1).values
    shift = torch.where(may_end, torch.maximum(best_name, stop_mass(raw, sep_id, end_id)), best_name)
    return torch.where(torch.isfinite(shift), shift, torch.zeros_like(shift))


def relative_shift_of_row(top: dict[int, float], stop_mass: float | None, sep_id: int, end_id: int) -> float:
    """``relative_shift`` for one row known by its best allowed tokens' log-probs (``top``, as vLLM
    returns them) and its ``stop_mass`` (None: the entity cannot end here)."""
    names = [lp for token, lp in top.items() if token not in (sep_id, end_id)]
    best_name = max(names, default=-math.inf)
    shift = max(best_name, stop_mass) if stop_mass is not None else max(top.values(), default=-math.inf)
    return shift if math.isfinite(shift) else 0.0


def parse_path_text(text: str) -> list[Path]:
    """Every ``<PATH> a -> r -> b ... </PATH>`` span in free text (teacher traces), in order.

    Malformed spans (even number of parts, empty names) are skipped.
    """
    paths: list[Path] = []
    pos = 0
    while True:
        start = text.find(PATH_START, pos)
        if start < 0:
            return paths
        end = text.find(PATH_END, start)
        if end < 0:
            return paths
        parts = [p.strip() for p in text[start + len(PATH_START) : end].split(SEPARATOR)]
        pos = end + len(PATH_END)
        if len(parts) >= 3 and len(parts) % 2 == 1 and all(parts):
            paths.append(Path(tuple(parts[0::2]), tuple(parts[1::2])))


def path_to_text(path: Path) -> str:
    return f"{PATH_START} {path.text(f' {SEPARATOR} ')} {PATH_END}"
