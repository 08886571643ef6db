"""Every Cypher statement of kgreason, in one place.

Rules: values always travel as parameters (``$name``), never spliced into the text, so any entity or
relation name (quotes, backticks, ``})``, ``$``, unicode, Cypher-looking text) is plain data. The only
non-constant text is a path-length bound, which Cypher does not accept as a parameter: it comes from
``_hops`` (a validated ``int``), never from user text.

Data model: ``(:Entity {name})`` with a uniqueness constraint on ``name``; a triple is one relationship
``(:Entity)-[:REL {name: relation}]->(:Entity)``. One relationship type with the relation name as a
property (rather than one type per relation, e.g. Neo4j 5.26 dynamic types ``$(...)``) because:
- it is correct for ANY name: no token-name rules or relationship-type count limits (Freebase-style KBs
  have tens of thousands of relations), no schema churn when new relations arrive;
- path queries use one fixed type, so the planner sees a constant pattern and every query plan is cached;
- it is much faster to load: on the MetaQA KB, ``MERGE (h)-[:REL {name: row[1]}]->(t)`` took ~5 s for
  129,660 triples where ``MERGE (h)-[:$(row[1])]->(t)`` (dynamic type, per row) took 73-104 s on the same
  server (docs/bench/kg.md); reading one short property per step costs path queries little.
A step walked backwards is named ``relation + $inv`` (``kg.naming.INVERSE_SUFFIX``), passed as a parameter.
"""

from __future__ import annotations

MAX_HOPS = 6  # hard ceiling for a variable-length pattern; every path query is bounded


def _hops(max_hops: int) -> int:
    if isinstance(max_hops, bool) or not isinstance(max_hops, int) or not 1 <= max_hops <= MAX_HOPS:
        raise ValueError(f"max_hops must be an int in 1..{MAX_HOPS}, got {max_hops!r}")
    return max_hops


# ---- schema ---------------------------------------------------------------------------------------
CREATE_ENTITY_NAME_CONSTRAINT = (
    "CREATE CONSTRAINT kgr_entity_name IF NOT EXISTS FOR (e:Entity) REQUIRE e.name IS UNIQUE"
)
AWAIT_INDEXES = "CALL db.awaitIndexes(300)"

# ---- loading (batched UNWIND; MERGE makes every statement idempotent) ------------------------------
# Entities first, in one pass over the batch's distinct names (an index seek each, via the constraint).
MERGE_ENTITIES = "UNWIND $names AS name MERGE (:Entity {name: name})"
# Then relationships between now-existing endpoints, grouped by head (one index seek per head, not per
# triple); MERGE checks only the edges between the two bound nodes (Expand(Into) from the smaller degree).
MERGE_TRIPLES = (
    "UNWIND $groups AS g "
    "MATCH (h:Entity {name: g[0]}) "
    "UNWIND g[1] AS out "
    "MATCH (t:Entity {name: out[1]}) "
    "MERGE (h)-[:REL {name: out[0]}]->(t)"
)
# The naive baseline of the load benchmark: one auto-commit statement per triple.
MERGE_ONE_TRIPLE = (
    "MERGE (h:Entity {name: $head}) MERGE (t:Entity {name: $tail}) MERGE (h)-[:REL {name: $relation}]->(t)"
)

# ---- deleting (bounded batches, each its own transaction) ------------------------------------------
DELETE_TRIPLES_BATCH = "MATCH ()-[r:REL]->() WITH r LIMIT $batch DELETE r RETURN count(*) AS deleted"
DELETE_ENTITIES_BATCH = "MATCH (e:Entity) WITH e LIMIT $batch DETACH DELETE e RETURN count(*) AS deleted"

# ---- point reads -----------------------------------------------------------------------------------
COUNT_ENTITIES = "MATCH (e:Entity) RETURN count(e) AS n"
COUNT_TRIPLES = "MATCH ()-[r:REL]->() RETURN count(r) AS n"
COUNT_RELATION_NAMES = "MATCH ()-[r:REL]->() RETURN count(DISTINCT r.name) AS n"
HAS_ENTITY = "MATCH (e:Entity {name: $name}) RETURN count(e) > 0 AS found"
HAS_TRIPLE = (
    "MATCH (h:Entity {name: $head}) MATCH (t:Entity {name: $tail}) "
    "RETURN EXISTS { (h)-[:REL {name: $relation}]->(t) } AS found"
)
PING = "RETURN 1 AS ok"

# ---- streaming every triple: keyset pages over head names (index-backed order, no SKIP) -------------
_TRIPLES_PAGE_TAIL = (
    "WITH h ORDER BY h.name LIMIT $page RETURN h.name AS head, [(h)-[r:REL]->(t) | [r.name, t.name]] AS out"
)
TRIPLES_FIRST_PAGE = "MATCH (h:Entity) WHERE h.name IS NOT NULL " + _TRIPLES_PAGE_TAIL
TRIPLES_NEXT_PAGE = "MATCH (h:Entity) WHERE h.name > $after " + _TRIPLES_PAGE_TAIL

# ---- neighbours: forward steps, then backward steps (a self-loop is both, as in MemoryStore) --------
NEIGHBORS = (
    "MATCH (:Entity {name: $name})-[r:REL]->(b) RETURN r.name AS relation, b.name AS entity "
    "UNION ALL "
    "MATCH (:Entity {name: $name})<-[r:REL]-(b) RETURN r.name + $inv AS relation, b.name AS entity"
)
# Along one relation, for every entity in ``$names`` in one round trip (a chain walk expands a whole
# frontier per step, not one entity per query); ``neighbors(entity, relation)`` is the one-name case.
STEPS_FORWARD = (
    "UNWIND $names AS name MATCH (:Entity {name: name})-[:REL {name: $relation}]->(b) "
    "RETURN name AS source, b.name AS entity"
)
STEPS_BACKWARD = (
    "UNWIND $names AS name MATCH (:Entity {name: name})<-[:REL {name: $base}]-(b) "
    "RETURN name AS source, b.name AS entity"
)

# ---- paths -----------------------------------------------------------------------------------------
# Sorted like Path.sort_key (hops, relations, entities): Cypher orders strings by code point and lists
# element-wise, as Python does, so ORDER BY + LIMIT cuts exactly where MemoryStore cuts.
_ORDER_AND_CUT = "ORDER BY size(relations), relations, entities LIMIT $limit"


def _walks_of(hops: int) -> str:
    """One UNION branch: the non-backtracking walks of exactly ``hops`` steps from ``a``.

    One MATCH per step, because a single pattern (even a quantified one) never repeats a relationship,
    and a walk may (``a -spouse-> b -spouse-> a -spouse-> b``); ``r{i} <> r{i-1}`` bars the backtrack."""
    node = ["a", *(f"n{i}" for i in range(1, hops + 1))]
    steps = " ".join(
        f"MATCH ({node[i - 1]})-[r{i}:REL]-({node[i]})" + (f" WHERE r{i} <> r{i - 1}" if i > 1 else "")
        for i in range(1, hops + 1)
    )
    rels = ", ".join(f"r{i}" for i in range(1, hops + 1))
    return f"WITH a {steps} RETURN [{', '.join(node)}] AS ns, [{rels}] AS rs"


def paths_from(max_hops: int) -> str:
    """Non-backtracking walks of 1..max_hops steps from ``$sources`` (``kg.store`` semantics).

    An undirected pattern matches a self-loop once, but MemoryStore walks it both ways (``r`` and
    ``r_inv``); ``flips`` enumerates, per path, every forward/backward choice of its self-loop steps.
    """
    branches = " UNION ".join(_walks_of(h) for h in range(1, _hops(max_hops) + 1))
    return (
        "UNWIND $sources AS source "
        "MATCH (a:Entity {name: source}) "
        f"CALL {{ {branches} }} "
        "WITH ns, rs, [i IN range(0, size(rs) - 1) WHERE startNode(rs[i]) = endNode(rs[i])] AS loops "
        "UNWIND CASE size(loops) WHEN 0 THEN [0] "
        "ELSE range(0, toInteger(2 ^ size(loops)) - 1) END AS flips "
        "WITH [n IN ns | n.name] AS entities, "
        "[i IN range(0, size(rs) - 1) | rs[i].name + CASE "
        "WHEN i IN loops AND (flips / toInteger(2 ^ size([k IN loops WHERE k < i]))) % 2 = 1 THEN $inv "
        "WHEN startNode(rs[i]) = ns[i] THEN '' ELSE $inv END] AS relations "
        "RETURN DISTINCT entities, relations " + _ORDER_AND_CUT
    )


def shortest_paths(max_hops: int) -> str:
    """Per (source, target) pair of distinct entities, all its shortest paths of at most max_hops."""
    return (
        "UNWIND $sources AS source "
        "MATCH (a:Entity {name: source}) "
        "UNWIND $targets AS target "
        "MATCH (b:Entity {name: target}) "
        "WHERE a <> b "
        f"MATCH p = allShortestPaths((a)-[:REL*1..{_hops(max_hops)}]-(b)) "
        "WITH nodes(p) AS ns, relationships(p) AS rs "
        "WITH [n IN ns | n.name] AS entities, "
        "[i IN range(0, size(rs) - 1) | "
        "rs[i].name + CASE WHEN startNode(rs[i]) = ns[i] THEN '' ELSE $inv END] AS relations "
        "RETURN DISTINCT entities, relations " + _ORDER_AND_CUT
    )
