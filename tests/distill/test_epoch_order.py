"""Length-grouped shuffling of training examples (``distill.train.epoch_order``)."""

from __future__ import annotations

import random

from distill.train import epoch_order


def _padded(lengths: list[int], order: list[int], batch: int) -> int:
    return sum(
        max(lengths[i] for i in order[j : j + batch]) * len(order[j : j + batch])
        for j in range(0, len(order), batch)
    )


def test_a_seeded_permutation_that_changes_per_epoch() -> None:
    lengths = [random.Random(1).randint(20, 200) for _ in range(1000)]
    first = epoch_order(lengths, 16, seed=0, epoch=0)
    assert sorted(first) == list(range(1000))
    assert first == epoch_order(lengths, 16, seed=0, epoch=0)  # resume replays the same order
    assert first != epoch_order(lengths, 16, seed=0, epoch=1)


def test_grouped_batches_pad_less_than_a_plain_shuffle() -> None:
    rng = random.Random(2)
    lengths = [rng.randint(20, 200) for _ in range(3200)]
    plain = epoch_order(lengths, 32, seed=0, epoch=0, group=1)
    grouped = epoch_order(lengths, 32, seed=0, epoch=0, group=50)
    assert _padded(lengths, grouped, 32) < 0.8 * _padded(lengths, plain, 32)
    # batches are still drawn from the whole set, not served shortest first
    first_batches = [sum(lengths[i] for i in grouped[j : j + 32]) / 32 for j in range(0, 320, 32)]
    assert max(first_batches) - min(first_batches) > 40
