"""The one ``Settings`` of kgreason (environment variables ``KGR_*`` or a ``.env`` file)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_NEO4J_PASSWORD = "kgreason-dev"  # dev default, refused when exposed
DEFAULT_ADMIN_KEY = "kgr-admin-dev-key"  # dev default, refused when exposed
DEFAULT_QA_KEY = "kgr-qa-dev-key"  # dev default, refused when exposed


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="KGR_", env_file=".env", extra="ignore")

    # --- storage -------------------------------------------------------------------------------
    data_dir: Path = Field(Path(".data"), description="Where the memory store and artifacts live")
    store: Literal["memory", "neo4j"] = "memory"
    neo4j_uri: str = "bolt://127.0.0.1:7687"
    neo4j_user: str = "neo4j"
    neo4j_password: SecretStr = SecretStr(DEFAULT_NEO4J_PASSWORD)
    neo4j_database: str | None = None
    neo4j_batch_size: int = 10_000

    # --- student / decoding --------------------------------------------------------------------
    student_dir: Path | None = None
    backend: Literal["hf", "vllm"] = "hf"
    default_k: int = 5
    default_hops: int = 2
    max_k: int = 20
    max_hops: int = 3
    # beam search at least this wide (the top k of its beams are returned): a wider search finds
    # multi-hop paths whose first steps the student ranks below dead ends, at some latency
    min_beams: int = 1

    # --- service -------------------------------------------------------------------------------
    host: str = "127.0.0.1"
    port: int = 8000
    admin_api_key: SecretStr = SecretStr(DEFAULT_ADMIN_KEY)
    qa_api_key: SecretStr = SecretStr(DEFAULT_QA_KEY)
    api_key_hashes_file: Path | None = None
    max_body_bytes: int = 1_000_000
    max_upload_bytes: int = 512_000_000
    max_question_chars: int = 1000
    queue_size: int = 64
    request_timeout_s: float = 60.0
    rate_limit_per_minute: int = 600
    reasoner_url: str | None = None  # OpenAI-compatible endpoint for the optional second stage
    reasoner_model: str | None = None
    reasoner_api_key: SecretStr | None = None
    reasoner_timeout_s: float = 60.0
    # micro-batching of concurrent QA requests into one generate() call
    batch_max_size: int = 16
    batch_max_wait_ms: float = 5.0
    rate_limit_burst: int = 120
    # server-side graph files the admin API may load; empty means any path the process can read
    graph_import_roots: list[Path] = Field(default_factory=list)
    log_json: bool = True
    startup_wait_s: float = 120.0  # how long start-up may hold back serving before /readyz says why
    demo: bool = False  # serve the committed demo graph and a demo student (trained on first start)

    @property
    def memory_store_file(self) -> Path:
        return self.data_dir / "memory" / "graph.npz"


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
