"""Graph-constrained decoding: path text format, KG-Trie constraint states and model backends."""
