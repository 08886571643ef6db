"""Inverse-edge naming, shared by every store and by decoding.

Stores keep forward triples only. Walking ``h -r-> t`` backwards from ``t`` is written as relation
``r + INVERSE_SUFFIX`` (MetaQA's ``directed_by_inv``). A stored relation may therefore not itself end
with the suffix: loaders reject it so the convention stays unambiguous.
"""

from __future__ import annotations

INVERSE_SUFFIX = "_inv"


def inverse(relation: str) -> str:
    """The name of ``relation`` walked the other way (involution)."""
    if relation.endswith(INVERSE_SUFFIX):
        return relation[: -len(INVERSE_SUFFIX)]
    return relation + INVERSE_SUFFIX


def is_inverse(relation: str) -> bool:
    return relation.endswith(INVERSE_SUFFIX)


def base_relation(relation: str) -> tuple[str, bool]:
    """``(stored relation name, walked backwards?)``."""
    if relation.endswith(INVERSE_SUFFIX):
        return relation[: -len(INVERSE_SUFFIX)], True
    return relation, False
