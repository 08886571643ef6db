"""Entity linking: brackets, exact, normalized, fuzzy; longest mention wins."""

from __future__ import annotations

from svc_helpers import demo_questions, demo_store

from service.linking import EntityLinker, edit_distance, normalize

NAMES = [
    "Temuera Morrison",
    "Once Were Warriors",
    "united_kingdom",
    "frederica_of_mecklenburg-strelitz",
    "united",
    "The Matrix",
    "1999",
]


def test_normalize_and_bounded_edit_distance() -> None:
    assert normalize("Frederica_of_Mecklenburg-Strelitz 's") == "frederica of mecklenburg strelitz s"
    assert edit_distance("kitten", "sitting", 5) == 3
    assert edit_distance("kitten", "sitting", 1) == 2  # bound + 1: gave up early
    assert edit_distance("abc", "abc", 0) == 0


def test_brackets_exact_normalized_and_fuzzy() -> None:
    linker = EntityLinker(NAMES)
    [link] = linker.link("what movies did [Temuera Morrison] act in")
    assert (link.entity, link.method) == ("Temuera Morrison", "exact")
    [link] = linker.link("what movies did [temuera morrison] act in")
    assert (link.entity, link.method) == ("Temuera Morrison", "normalized")
    links = linker.link("who was born in the United Kingdom?")
    assert [(x.entity, x.method) for x in links] == [("united_kingdom", "normalized")]  # not just "united"
    [link] = linker.link("which films did temuera morisson star in")
    assert (link.entity, link.method) == ("Temuera Morrison", "fuzzy") and 0 < link.score < 0.8
    assert linker.link("what is this about") == []


def test_links_the_topic_of_most_demo_questions() -> None:
    store = demo_store()
    linker = EntityLinker(store.entity_ids)
    questions = demo_questions(300)
    hits = sum(any(x.entity == q["topic_entity"] for x in linker.link(str(q["question"]))) for q in questions)
    assert hits / len(questions) >= 0.95, hits
