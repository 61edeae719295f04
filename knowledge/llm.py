"""Optional LLM phrasing: a LangChain chat model rewrites the answer from the retrieved clauses only.

Its text must cite clauses as 【id】 (or [id]); every cited id must be one of the retrieved
clauses and at least one must be cited. Any violation, error or empty reply returns ``None``
and the caller keeps the extractive answer.
"""

from __future__ import annotations

import logging
import re
from typing import Any

log = logging.getLogger(__name__)

MAX_CHARS = 1200
_CITE = re.compile(r"[【\[]\s*([A-Za-z0-9][A-Za-z0-9.]*)\s*[】\]]")

SYSTEM = (
    "You answer questions about the Yunnan innovation-consortium scheme (云南省创新联合体建设管理工作方案（试行）). "
    "Use ONLY the clauses given. Cite every statement with the clause id in brackets, e.g. 【4.4】. "
    "If the clauses do not answer the question, say so. Reply in {language}, at most 5 sentences, plain text."
)


def cited_ids(text: str) -> list[str]:
    return list(dict.fromkeys(m.group(1) for m in _CITE.finditer(text)))


def validate(text: str, allowed: set[str]) -> str | None:
    """The reason a rewrite is rejected, or None when it may be sent."""
    if not text.strip():
        return "empty"
    if len(text) > MAX_CHARS:
        return "too long"
    ids = cited_ids(text)
    if not ids:
        return "no citation"
    bad = [i for i in ids if i not in allowed]
    if bad:
        return f"cites clauses that were not retrieved: {', '.join(bad)}"
    return None


def rephrase(llm: Any, question: str, lang: str, clauses: list[tuple[str, str, str]]) -> str | None:
    """``clauses``: (id, label, full text). Returns the validated text or None."""
    from langchain_core.messages import HumanMessage, SystemMessage

    context = "\n\n".join(f"【{cid}】{label}\n{text}" for cid, label, text in clauses)
    messages = [
        SystemMessage(SYSTEM.format(language="English" if lang == "en" else "Chinese (简体中文)")),
        HumanMessage(f"Clauses:\n{context}\n\nQuestion: {question}"),
    ]
    try:
        reply = llm.invoke(messages)
    except Exception as exc:
        log.warning("LLM rephrasing failed, sending the extractive answer: %s", exc)
        return None
    content = getattr(reply, "content", reply)
    text = content if isinstance(content, str) else str(content)
    reason = validate(text, {cid for cid, _, _ in clauses})
    if reason:
        log.info("LLM answer rejected (%s); sending the extractive answer", reason)
        return None
    return text.strip()
