"""FAQ entries: a question an officer answered, mapped to a clause of a loaded document.

The Q&A service receives them through ``QAService.set_faq(entries)``; the gaps feature stores
them (officer's answer, who, when) and calls it at start and after every confirmed answer.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class FaqEntry:
    question: str
    clause: str
    document: str = "scheme"
    answer_zh: str = ""
    answer_en: str = ""
