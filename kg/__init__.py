"""Knowledge-graph layer: stores, loaders and path queries."""

from kg.errors import KgrError
from kg.types import GraphStats, Path, Triple

__all__ = ["GraphStats", "KgrError", "Path", "Triple"]
