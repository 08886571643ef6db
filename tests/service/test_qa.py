"""POST /v1/qa and /v1/qa/stream against the real app with the demo graph and a tiny student."""

from __future__ import annotations

import json

from fastapi.testclient import TestClient
from svc_helpers import QA, QUESTION, TOPIC, demo_store

from kg.types import Path


def test_qa_answers_with_verified_kg_paths(client: TestClient) -> None:
    r = client.post("/v1/qa", json={"question": QUESTION, "k": 3, "max_hops": 2}, headers=QA)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["topic_entities"][0]["entity"] == TOPIC
    assert body["topic_entities"][0]["method"] == "exact"
    assert 1 <= len(body["paths"]) <= 3
    store = demo_store()
    for p in body["paths"]:
        assert p["verified"] is True
        assert p["entities"][0] == TOPIC
        assert 1 <= len(p["relations"]) <= 2
        assert store.has_path(Path(tuple(p["entities"]), tuple(p["relations"])))
    assert body["answers"], "a vote over the hypotheses"
    assert body["answer"] == body["answers"][0]["answer"]
    assert body["answer_method"] == "vote"
    for a in body["answers"]:
        assert a["path_indexes"], "every answer cites its paths"
        assert all(body["paths"][i]["answer"] == a["answer"] for i in a["path_indexes"])
    assert body["request_id"] == r.headers["x-request-id"]
    assert {"linking", "generation", "verification"} <= set(body["timings_ms"])


def test_given_topics_bypass_linking_and_unknown_ones_are_422(client: TestClient) -> None:
    r = client.post("/v1/qa", json={"question": "who?", "topic_entities": [TOPIC], "k": 2}, headers=QA)
    assert r.status_code == 200, r.text
    assert r.json()["topic_entities"] == [
        {"entity": TOPIC, "mention": TOPIC, "method": "given", "score": 1.0}
    ]
    r = client.post("/v1/qa", json={"question": "who?", "topic_entities": ["no_such_entity"]}, headers=QA)
    assert r.status_code == 422
    assert r.json()["code"] == "invalid_input"
    assert "no_such_entity" in r.json()["message"]


def test_exclude_topic_answers_drops_walks_back_to_the_topic(client: TestClient) -> None:
    # shah_shuja's whole 2-hop neighbourhood: 2 paths to mumtaz_mahal and 2 that walk back to him
    topic = "shah_shuja"
    ask = {"question": "who is shah_shuja 's mother ?", "topic_entities": [topic], "k": 10, "max_hops": 2}
    plain = client.post("/v1/qa", json=ask, headers=QA).json()
    assert {a["answer"] for a in plain["answers"]} == {topic, "mumtaz_mahal"}
    r = client.post("/v1/qa", json={**ask, "exclude_topic_answers": True}, headers=QA)
    assert r.status_code == 200, r.text
    body = r.json()
    assert [a["answer"] for a in body["answers"]] == ["mumtaz_mahal"]
    assert body["answer"] == "mumtaz_mahal"
    assert {p["answer"] for p in body["paths"]} == {topic, "mumtaz_mahal"}, "paths are still listed"
    for a in body["answers"]:
        assert all(body["paths"][i]["answer"] == a["answer"] for i in a["path_indexes"])


def test_question_without_any_entity_is_422(client: TestClient) -> None:
    r = client.post("/v1/qa", json={"question": "what is the meaning of life ?"}, headers=QA)
    assert r.status_code == 422
    assert "no knowledge-graph entity" in r.json()["message"]


def test_limits_on_k_hops_and_backend(client: TestClient) -> None:
    for bad in ({"k": 0}, {"k": 51}, {"max_hops": 0}, {"max_hops": 9}, {"k": "many"}, {"backend": "tpu"}):
        r = client.post("/v1/qa", json={"question": QUESTION, **bad}, headers=QA)
        assert r.status_code == 422, (bad, r.text)
        assert set(r.json()) == {"code", "message", "request_id"}
    r = client.post("/v1/qa", json={"question": QUESTION, "k": 21}, headers=QA)  # schema ok, settings max 20
    assert r.status_code == 422
    r = client.post("/v1/qa", json={"question": QUESTION, "backend": "vllm"}, headers=QA)
    assert r.status_code == 422 and "not loaded" in r.json()["message"]


def test_stream_sends_links_paths_answer_done(client: TestClient) -> None:
    with client.stream("POST", "/v1/qa/stream", json={"question": QUESTION, "k": 2}, headers=QA) as r:
        assert r.status_code == 200
        assert r.headers["content-type"].startswith("text/event-stream")
        text = "".join(r.iter_text())
    events = []
    for block in text.strip().split("\n\n"):
        lines = dict(line.split(": ", 1) for line in block.splitlines())
        events.append((lines["event"], json.loads(lines["data"])))
    names = [e for e, _ in events]
    assert names == ["links", "paths", "answers", "answer", "done"]
    paths = events[1][1]
    assert paths and all(p["verified"] for p in paths)
    assert events[3][1]["method"] == "vote"


def test_stream_errors_before_streaming_are_plain_json(client: TestClient) -> None:
    r = client.post("/v1/qa/stream", json={"question": "nothing known here"}, headers=QA)
    assert r.status_code == 422
    assert r.json()["code"] == "invalid_input"
