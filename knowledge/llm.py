"""Optional LLM: a chat model may rewrite only the answer's *lead* from the retrieved clauses.

The lead is the one or two sentences that answer the question; quotes, buttons and everything else
stay extractive. The model must cite the clauses it used as 【id】; a rewrite is accepted only when
it is non-empty, at most :data:`LEAD_MAX_CHARS` characters, cites at least one clause, cites only
retrieved clauses, for English has no Chinese outside parentheses and 【】, and states no figure that is
neither in the question, the draft lead nor the clauses (nor drops one of the draft's). The accepted text is
returned **with the 【id】 markers removed** (the reply already names and quotes the cited clauses;
ids such as 4.4 mean nothing to a reader). Any error, invalid reply or a call slower than the
timeout returns ``None``, logs one line with the reason, and the caller keeps the extractive lead.

The model is any LangChain chat model; :func:`make_chat_model` builds one for an OpenAI-compatible
endpoint (Ollama, vLLM, DeepSeek, Qwen/DashScope, OpenAI …). Pure apart from calling the model:
no environment, no clock beyond the call's own deadline.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from langchain_core.language_models import BaseChatModel

log = logging.getLogger(__name__)

MAX_CHARS = 1200  # the old whole-answer rewrite (rephrase)
LEAD_MAX_CHARS = 400
DEFAULT_TIMEOUT = 8.0
_CITE = re.compile(r"[【\[]\s*([A-Za-z0-9][A-Za-z0-9.]*)\s*[】\]]")
_MARKER = re.compile(r"\s*[【\[]\s*[A-Za-z0-9][A-Za-z0-9.]*\s*[】\]]")
_THINK = re.compile(r"<think>.*?</think>", re.S)  # reasoning models (DeepSeek-R1, Qwen3) may prepend this
# Han ideographs, CJK punctuation, kana and full-width forms: what an English reader cannot use.
_CJK = re.compile(r"[\u2e80-\u2fdf\u3000-\u303f\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uff00-\uffef]")
_HAN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff]")
_NUMBER = re.compile(r"\d+(?:[.,]\d+)*")
_ALLOWED_CJK = re.compile(r"【[^】]*】|（[^（）]*）|\([^()]*\)")  # names in parentheses, citation markers

LEAD_SYSTEM = (
    "You write the opening of an answer about the Yunnan innovation-consortium scheme "
    "(云南省创新联合体建设管理工作方案（试行）). Write ONE or TWO short sentences that directly answer the "
    "question (yes/no, who, what, how much, when), using ONLY the clauses given; add nothing they do not say "
    "and keep every figure of the draft answer exactly. "
    "After each sentence put the id of the clause it rests on in 【】, e.g. 【4.4】; cite only the ids given. "
    "Reply in {language}{language_note}, plain text, at most {max_chars} characters, no quotation, no preamble. "
    "If the clauses do not answer the question, return the draft answer unchanged."
)
_EN_NOTE = "; no Chinese characters except names in parentheses"


def cited_ids(text: str) -> list[str]:
    return list(dict.fromkeys(m.group(1) for m in _CITE.finditer(text)))


def strip_citations(text: str) -> str:
    """The text without its 【id】 markers (and the space before them)."""
    return re.sub(r"[ \t]+([。，；：！？.,;:!?])", r"\1", _MARKER.sub("", text)).strip()


def validate(text: str, allowed: set[str], lang: str | None = None, max_chars: int = MAX_CHARS) -> str | None:
    """The reason a rewrite is rejected, or None when it may be sent.

    ``lang``: 'en' rejects Chinese outside parentheses and 【】; 'zh' rejects a reply without Chinese.
    """
    if not text.strip():
        return "empty"
    if len(text) > max_chars:
        return f"too long ({len(text)} > {max_chars} characters)"
    ids = cited_ids(text)
    if not ids:
        return "no citation"
    bad = [i for i in ids if i not in allowed]
    if bad:
        return f"cites clauses that were not retrieved: {', '.join(bad)}"
    if lang == "en":
        rest = _ALLOWED_CJK.sub("", text)
        if _CJK.search(rest):
            return "Chinese text in an English answer"
    elif lang == "zh" and not _HAN.search(_MARKER.sub("", text)):
        return "no Chinese in a Chinese answer"
    return None


def _numbers(text: str) -> set[str]:
    return {n.replace(",", "").rstrip("0").rstrip(".") if "." in n else n.replace(",", "")
            for n in _NUMBER.findall(_MARKER.sub("", text))}


def number_check(text: str, lead: str, sources: list[str]) -> str | None:
    """The reason a rewrite's figures are rejected: a number found neither in the draft lead, the
    question nor the clauses (made up), or a number of the draft lead left out (a computed figure lost)."""
    have = _numbers(text)
    known = _numbers(lead).union(*(_numbers(s) for s in sources))
    new = sorted(have - known)
    if new:
        return f"numbers not in the clauses: {', '.join(new[:5])}"
    lost = sorted(_numbers(lead) - have)
    if lost:
        return f"drops figures of the lead: {', '.join(lost[:5])}"
    return None


def make_chat_model(base_url: str, model: str, api_key: str = "", timeout: float = DEFAULT_TIMEOUT) -> BaseChatModel:
    """A LangChain chat model for an OpenAI-compatible ``base_url`` (the root ending in /v1).

    No retries (a retry would break the answer's time budget); ``timeout`` bounds each HTTP call.
    A local server needs no key: a placeholder is sent, as the OpenAI client insists on one.
    """
    from langchain_openai import ChatOpenAI
    from pydantic import SecretStr

    return ChatOpenAI(
        model=model,
        base_url=base_url.rstrip("/"),
        api_key=SecretStr(api_key or "not-needed"),
        timeout=timeout,
        max_retries=0,
        temperature=0,
    )


def _text(reply: Any) -> str:
    content = getattr(reply, "content", reply)
    if isinstance(content, list):  # content blocks
        content = "".join(b if isinstance(b, str) else str(b.get("text", "")) if isinstance(b, dict) else ""
                          for b in content)
    return content if isinstance(content, str) else str(content)


def _secret(llm: Any) -> str:
    for attr in ("openai_api_key", "api_key"):
        value = getattr(llm, attr, None)
        if value is not None and hasattr(value, "get_secret_value"):
            return str(value.get_secret_value())
    return ""


def _reason(exc: BaseException, llm: Any) -> str:
    """One line about a failed call, never the API key."""
    msg = " ".join(str(exc).split())[:200]
    key = _secret(llm)
    if key and len(key) >= 4:
        msg = msg.replace(key, "***")
    return f"{type(exc).__name__}: {msg}" if msg else type(exc).__name__


def _invoke(llm: Any, messages: list[Any], timeout: float) -> tuple[str | None, str]:
    """Call the model in a daemon thread and wait at most ``timeout`` seconds: (text, "") or (None, reason).

    The HTTP client has its own timeout; this one also bounds a model object or server that ignores it,
    and a call left behind cannot keep the process from exiting.
    """
    box: dict[str, Any] = {}
    done = threading.Event()

    def run() -> None:
        try:
            box["reply"] = llm.invoke(messages)
        except Exception as exc:  # reported to the caller as a fallback reason
            box["error"] = exc
        finally:
            done.set()

    threading.Thread(target=run, name="llm-call", daemon=True).start()
    if not done.wait(timeout):
        return None, f"no reply within {timeout:g} s"
    if "reply" not in box:
        return None, _reason(box["error"], llm) if "error" in box else "the call was interrupted"
    return _text(box["reply"]), ""


def _language(lang: str) -> str:
    return "English" if lang == "en" else "Chinese (简体中文)"


def model_timeout(llm: Any) -> float:
    """The timeout the model was built with (``make_chat_model``), at most 8 s; 8 s when it has none."""
    value = getattr(llm, "request_timeout", None)
    return min(float(value), DEFAULT_TIMEOUT) if isinstance(value, (int, float)) and value > 0 else DEFAULT_TIMEOUT


def rewrite_lead(
    llm: Any, question: str, lang: str, lead: str, clauses: list[tuple[str, str, str]],
    timeout: float | None = None,
) -> str | None:
    """The model's lead for ``question`` from ``clauses`` (id, label, full text), without 【id】 markers.

    ``lead`` is the extractive lead, given to the model as a draft. None (and one log line) when the
    call fails, is slower than ``timeout`` seconds (default: the model's own, see :func:`model_timeout`),
    or the reply does not pass :func:`validate`.
    """
    if not clauses:
        return None
    timeout = model_timeout(llm) if timeout is None else timeout
    from langchain_core.messages import HumanMessage, SystemMessage

    context = "\n\n".join(f"【{cid}】{label}\n{text}" for cid, label, text in clauses)
    draft = f"\n\nDraft answer (from the clauses, may be improved): {lead}" if lead.strip() else ""
    messages = [
        SystemMessage(LEAD_SYSTEM.format(language=_language(lang), language_note=_EN_NOTE if lang == "en" else "",
                                         max_chars=LEAD_MAX_CHARS)),
        HumanMessage(f"Clauses:\n{context}\n\nQuestion: {question}{draft}"),
    ]
    start = time.monotonic()
    text, failure = _invoke(llm, messages, timeout)
    took = time.monotonic() - start
    if text is None:
        log.warning("LLM lead not used (%s, %.1f s); keeping the extractive lead", failure, took)
        return None
    text = _THINK.sub("", text).strip()
    reason = validate(text, {cid for cid, _, _ in clauses}, lang, LEAD_MAX_CHARS) or number_check(
        text, lead, [question, *(f"{label} {body}" for _, label, body in clauses)])
    if reason:
        log.warning("LLM lead rejected (%s, %.1f s); keeping the extractive lead", reason, took)
        return None
    out = strip_citations(text)
    if not out:
        log.warning("LLM lead rejected (only citations, %.1f s); keeping the extractive lead", took)
        return None
    return out


def rephrase(llm: Any, question: str, lang: str, clauses: list[tuple[str, str, str]],
             timeout: float | None = None) -> str | None:
    """Deprecated: the old entry point, now a thin wrapper around :func:`rewrite_lead` without a draft."""
    return rewrite_lead(llm, question, lang, "", clauses, timeout)
