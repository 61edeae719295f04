"""User-facing strings in Chinese and English, from ``bot/locales/*.yaml``.

Each file maps a dotted key to ``{zh: ..., en: ...}``; one file per feature.
"""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

from knowledge.text import detect_lang as question_lang

LOCALES = Path(__file__).parent / "locales"
LANGS = ("zh", "en")
_CJK = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]")
_LATIN = re.compile(r"[A-Za-z]")


@lru_cache(maxsize=1)
def catalog() -> dict[str, dict[str, str]]:
    merged: dict[str, dict[str, str]] = {}
    for path in sorted(LOCALES.glob("*.yaml")):
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        for key, value in data.items():
            if key in merged:
                raise ValueError(f"{path.name}: message key {key!r} is defined twice")
            if not isinstance(value, dict) or set(value) != set(LANGS):
                raise ValueError(f"{path.name}: message {key!r} needs exactly zh and en texts")
            merged[key] = {k: str(v) for k, v in value.items()}
    return merged


def t(key: str, lang: str, /, **kw: Any) -> str:
    entry = catalog().get(key)
    if entry is None:
        raise KeyError(f"no message {key!r} in bot/locales")
    text = entry.get(lang) or entry["zh"]
    return text.format(**kw) if kw else text


def client_lang(language_code: str | None) -> str:
    """The language of a Telegram client's setting: English for en*, else Chinese."""
    return "en" if (language_code or "").lower().startswith("en") else "zh"


def user_lang(chosen: str | None, language_code: str | None) -> str:
    """The one language rule for a known person: chosen with /lang, else the client's, else Chinese
    (a message's own wording may still switch a reply, see :func:`detect_lang`)."""
    return chosen if chosen in LANGS else client_lang(language_code)


def detect_lang(text: str | None, fallback: str = "zh") -> str:
    """Chinese if Chinese carries the text, English if English words do (a Chinese term inside an English
    sentence stays English: the Q&A service's rule); the fallback for neither."""
    if not text:
        return fallback
    if _CJK.search(text):
        return question_lang(text)
    if len(_LATIN.findall(text)) >= 2:
        return "en"
    return fallback
