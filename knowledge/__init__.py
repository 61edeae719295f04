"""The scheme as structured clauses; indexing, retrieval and cited answers (pure core)."""
