"""The scheme as structured clauses; indexing, retrieval and cited answers (pure core).

``knowledge.corpus`` parses the scheme; ``knowledge.service.QAService`` answers questions
(``QAService.build(data_dir).answer(question, lang, context)``). Heavy modules load lazily.
"""

from __future__ import annotations

from typing import Any

__all__ = ["Answer", "QAService"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from knowledge import service

        return getattr(service, name)
    raise AttributeError(f"module 'knowledge' has no attribute {name!r}")
