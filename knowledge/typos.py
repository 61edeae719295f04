"""One-character repairs of a question against the documents' own wording (牵投单位 → 牵头单位, 自筹经废 → 自筹经费).

Chinese is typed through pinyin, so a one-character typo is almost always a character of the same sound
(投/头 tóu, 废/费 fèi; each character's usual reading, from ``knowledge/data/readings.txt``) or of a sound the speakers of the south-west do not
tell apart (n/l, zh/z, ch/c, sh/s, -en/-eng, -in/-ing). The most common characters (是, 要, 个, 的 …) are
taken as typed. A run of Chinese characters in the question that the documents never write, but that one such
character turns into a phrase they write several times, is read as that phrase — when the typed character
makes no word with its neighbours (neither in the documents nor in the word list of the tokenizer: 我们,
表里 are words, 牵投, 经废 are not) and the meant one makes only character pairs the documents use.
At most one repair per phrase, never two that overlap. Both the lexical and the dense
stage then see the repaired words (the question shown to people stays as typed). The phrases come from the
documents themselves, so the same mechanism serves every added document; nothing here is a list of typos.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

_CJK_RUN = re.compile(r"[\u3400-\u9fff]+")
_FUZZY_INITIALS = (("zh", "z"), ("ch", "c"), ("sh", "s"))
_FUZZY_FINALS = (("eng", "en"), ("ing", "in"))
# (length of a phrase, how often the documents must write it to be a repair target)
_WINDOWS = ((4, 1), (3, 2))


@dataclass(frozen=True)
class Repair:
    start: int
    typed: str
    meant: str


READINGS_FILE = Path(__file__).parent / "data" / "readings.txt"


@lru_cache(maxsize=1)
def _readings() -> dict[str, str]:
    """Character → its usual toneless reading (``knowledge/data/readings.txt``, ~80 KB: a small table
    instead of a pinyin library's 56 MB one in every process)."""
    out: dict[str, str] = {}
    for line in READINGS_FILE.read_text(encoding="utf-8").splitlines():
        if line and not line.startswith("#"):
            reading, chars = line.split(" ", 1)
            out.update(dict.fromkeys(chars, reading))
    return out


def _fold(reading: str) -> str:
    """A reading as south-western speakers say it: l→n, zh/ch/sh→z/c/s, -eng/-ing→-en/-in."""
    r = "n" + reading[1:] if reading.startswith("l") else reading
    for a, b in _FUZZY_INITIALS:
        if r.startswith(a):
            r = b + r[len(a):]
    for a, b in _FUZZY_FINALS:
        if r.endswith(a):
            r = r[:-len(a)] + b
    return r


def _sounds(ch: str) -> frozenset[str]:
    reading = _readings().get(ch)
    return frozenset((_fold(reading),)) if reading else frozenset()


def sound_alike(a: str, b: str) -> bool:
    return bool(_sounds(a) & _sounds(b))


class TypoRepairer:
    """Index of the documents' phrases of three and four characters, by each phrase with one character masked."""

    def __init__(self, texts: Iterable[str], is_word: Callable[[str], bool] = lambda w: False,
                 common: Callable[[str], bool] = lambda ch: False) -> None:
        """``is_word``: whether a string of two to four characters is a word of the language (a dictionary);
        ``common``: whether a character is among the most frequent of the language (never a typo)."""
        self.is_word, self.common = is_word, common
        counts: dict[int, Counter[str]] = {n: Counter() for n, _ in _WINDOWS}
        bigrams: set[str] = set()
        for text in texts:
            for run in _CJK_RUN.findall(text):
                bigrams.update(run[i:i + 2] for i in range(len(run) - 1))
                for n, _ in _WINDOWS:
                    counts[n].update(run[i:i + n] for i in range(len(run) - n + 1))
        self.bigrams = bigrams
        self.phrases = counts
        self.masked: dict[tuple[int, str], list[str]] = {}
        for n, least in _WINDOWS:
            for phrase, c in counts[n].items():
                if c < least:
                    continue
                for i in range(n):
                    self.masked.setdefault((i, phrase[:i] + "\0" + phrase[i + 1:]), []).append(phrase)

    def _candidate(self, window: str) -> tuple[int, str] | None:
        """The one phrase (and the position of the changed character) one substitution away, if unique."""
        found: list[tuple[int, str]] = []
        for i in range(len(window)):
            for phrase in self.masked.get((i, window[:i] + "\0" + window[i + 1:]), ()):
                if sound_alike(window[i], phrase[i]) and self._fixes(window, phrase, i):
                    found.append((i, phrase))
        if not found:
            return None
        phrases = {p for _, p in found}
        if len(phrases) > 1:  # two ways to repair it: not sure which was meant
            counts = self.phrases[len(window)]
            best = max(phrases, key=lambda p: counts[p])
            if sorted((counts[p] for p in phrases), reverse=True)[1] * 3 > counts[best]:
                return None
            return next(f for f in found if f[1] == best)
        return found[0]

    def _fixes(self, window: str, phrase: str, i: int) -> bool:
        """The meant character makes only pairs the documents write; the typed one pairs they never write."""
        def pairs(s: str) -> list[str]:
            return [s[j:j + 2] for j in (i - 1, i) if j >= 0 and j + 2 <= len(s)]

        return all(p not in self.bigrams for p in pairs(window)) and all(p in self.bigrams for p in pairs(phrase))

    def _in_a_word(self, run: str, i: int, inside: range = range(0)) -> bool:
        """The character at ``i`` of ``run`` belongs to a word of two to four characters. A dictionary word
        lying ``inside`` the window being repaired does not count (中式平台 → 中试平台: a four-character phrase the
        documents write, one sound-alike character away, outweighs 中式 being a word elsewhere)."""
        for a in range(max(0, i - 3), i + 1):
            for b in range(max(a + 2, i + 1), min(len(run), a + 4) + 1):
                w = run[a:b]
                if w in self.bigrams if len(w) == 2 else w in self.phrases.get(len(w), ()):
                    return True
                if self.is_word(w) and not (a in inside and b - 1 in inside):
                    return True
        return False

    def repairs(self, text: str) -> list[Repair]:
        out: list[Repair] = []
        for m in _CJK_RUN.finditer(text):
            run = m.group()
            done: set[int] = set()  # positions of a repaired phrase: no second repair overlaps it
            for n, _ in _WINDOWS:
                counts = self.phrases[n]
                for j in range(len(run) - n + 1):
                    window = run[j:j + n]
                    if window in counts or done & set(range(j, j + n)):
                        continue
                    cand = self._candidate(window)
                    inside = range(j, j + n) if n == 4 else range(0)
                    if cand is None or self.common(run[j + cand[0]]) or self._in_a_word(run, j + cand[0], inside):
                        continue
                    i, phrase = cand
                    out.append(Repair(m.start() + j + i, run[j + i], phrase[i]))
                    done.update(range(j, j + n))
        return out

    def repair(self, text: str) -> str:
        """``text`` with every repair applied (unchanged when there is none)."""
        chars = list(text)
        for r in self.repairs(text):
            chars[r.start] = r.meant
        return "".join(chars)


def write_readings(path: Path = READINGS_FILE) -> int:
    """Regenerate the readings table from pypinyin's character table (a development dependency)."""
    import unicodedata

    from pypinyin.pinyin_dict import pinyin_dict

    groups: dict[str, list[str]] = {}
    for cp in [*range(0x3400, 0x4DC0), *range(0x4E00, 0xA000)]:
        readings = pinyin_dict.get(cp)
        if not readings:
            continue
        first = unicodedata.normalize("NFD", readings.split(",")[0])
        plain = "".join(c for c in first if not unicodedata.combining(c)).replace("ü", "v")
        groups.setdefault(plain, []).append(chr(cp))
    head = ["# The usual reading (toneless pinyin, ü as v) of each Chinese character, grouped by reading; generated from",
            "# pypinyin's character table (`python -m knowledge.typos --write-readings`). Used by knowledge.typos."]
    path.write_text("\n".join([*head, *(f"{k} {''.join(v)}" for k, v in sorted(groups.items()))]) + "\n",
                    encoding="utf-8")
    return sum(len(v) for v in groups.values())


if __name__ == "__main__":
    import sys

    if sys.argv[1:] == ["--write-readings"]:
        print(f"{write_readings()} characters written to {READINGS_FILE}")
    else:
        print("usage: python -m knowledge.typos --write-readings")
