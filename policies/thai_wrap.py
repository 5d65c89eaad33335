"""Line breaks for Thai report text: only between dictionary words, never inside a number, an
ID or a date, and nothing invisible left in the text a reader copies.

Thai is written without spaces between words, so a PDF writer that wraps at spaces (fpdf2)
either overflows or cuts a word anywhere. Inserting U+200B as break hints works for the layout
but leaves hundreds of invisible characters in what ``pdftotext`` or a copy-paste yields. Here
the lines are computed instead: the text is cut into *units* that must stay whole (a Thai
dictionary word from PyThaiNLP's ``newmm`` segmenter, a run of Latin letters, digits and
punctuation such as ``10,304.07`` or ``SYS-SNMP-01``, a date such as ``2 ธ.ค. 2570``), and the
units are packed greedily into lines no wider than the column, joined with ``\\n``.

PyThaiNLP is pure Python with its word list inside the wheel (about 22 MB installed, ~60 ms
to import, ~0.4 s to load the dictionary on first use); it is imported only when a PDF with
Thai text is written. It runs read-only and offline: nothing is written under ``~`` and
nothing is downloaded.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from functools import lru_cache

from upkeep.kit.thai import EN_MONTHS, EN_MONTHS_ABBR, THAI_MONTHS, THAI_MONTHS_ABBR

#: Thai letters, vowels, tone marks and digits (U+0E01..U+0E5B)
THAI = re.compile(r"[\u0e01-\u0e5b]+")
_MONTHS = "|".join(re.escape(m) for m in sorted(
    (*THAI_MONTHS, *THAI_MONTHS_ABBR, *EN_MONTHS, *EN_MONTHS_ABBR), key=len, reverse=True))
#: spans whose inner spaces do not break: ``2 ธ.ค. 2570 14:05 น.``, ``พ.ศ. 2568``, ``THB 1,000.00``
_KEEP = re.compile(
    rf"\d{{1,2}} (?:{_MONTHS}) \d{{4}}(?: \d{{1,2}}:\d{{2}}(?::\d{{2}})?(?: น\.)?)?"
    r"|(?:พ\.ศ\.|ค\.ศ\.|ร้อยละ|THB) [\d,.]+"
    r"|(?<![^\s(\u0e01-\u0e5b])[\d,.]+ (?:บาท|%|ปี|วัน|ชั่วโมง|นาที|ครั้ง|รายการ|คน)(?![\u0e01-\u0e5b])")
_LEADING_VOWELS = "เแโใไ"
#: characters a reader would not see; never emitted (U+200B ZWSP, joiners, soft hyphen, BOM)
INVISIBLE = frozenset("\u200b\u200c\u200d\u2060\u00ad\ufeff")


@lru_cache(maxsize=1)
def _segmenter() -> Callable[[str], list[str]]:
    # read-only and offline: no ~/pythainlp-data, no corpus download from a report run
    os.environ.setdefault("PYTHAINLP_READ_ONLY", "1")
    os.environ.setdefault("PYTHAINLP_OFFLINE", "1")
    from pythainlp.tokenize import word_tokenize

    def segment(text: str) -> list[str]:
        return [w for w in word_tokenize(text, engine="newmm", keep_whitespace=False) if w]

    return segment


@lru_cache(maxsize=4096)
def thai_words(run: str) -> tuple[str, ...]:
    """The dictionary words of a run of Thai letters (PyThaiNLP ``newmm``)."""
    words = _segmenter()(run)
    return tuple(words) if "".join(words) == run else (run,)


def _chunk_units(chunk: str) -> list[str]:
    """A space-free chunk cut at its break opportunities: between Thai words, and between
    Thai and an alphanumeric non-Thai run (``ราคา|10,304.07|บาท``), never next to bare
    punctuation (``ธ.ค.``, ``(ผู้ใช้)``) and never inside a non-Thai run."""
    pieces: list[tuple[str, bool]] = []  # (text, is Thai)
    pos = 0
    for match in THAI.finditer(chunk):
        if match.start() > pos:
            pieces.append((chunk[pos:match.start()], False))
        pieces.append((match.group(), True))
        pos = match.end()
    if pos < len(chunk):
        pieces.append((chunk[pos:], False))
    units: list[str] = []
    glue = False  # the next piece continues the last unit
    for piece, thai in pieces:
        if thai:
            words = list(thai_words(piece))
            if glue and units:
                units[-1] += words.pop(0)
            units.extend(words)
            glue = False
        else:
            breakable = any(c.isalnum() for c in piece)
            if (not breakable or glue) and units:
                units[-1] += piece
            else:
                units.append(piece)
            # bare punctuation also holds on to the word after it: "(" + "ผู้ใช้"
            glue = not breakable
    return units


def units(line: str) -> list[str]:
    """``line`` cut into unbreakable units; spaces are units of their own (``" "``)."""
    out: list[str] = []
    pos = 0
    spans = [(m.start(), m.end()) for m in _KEEP.finditer(line)]
    for start, end in [*spans, (len(line), len(line))]:
        for i, chunk in enumerate(line[pos:start].split(" ")):
            if i:
                out.append(" ")
            if chunk:
                pieces = _chunk_units(chunk)
                if i == 0 and pos > 0 and out:  # "2 ธ.ค. 2570)": the ")" stays with the date
                    out[-1] += pieces.pop(0)
                out.extend(pieces)
        if end > start:
            if out and out[-1] != " " and start > 0 and line[start - 1] != " ":
                out[-1] += line[start:end]
            else:
                out.append(line[start:end])
        pos = end
    return out


def _clusters(text: str) -> list[str]:
    """``text`` cut where a Thai line may break if it must inside a word: before a consonant
    or a leading vowel, never before a mark or a following vowel (the last resort for a unit
    wider than its column)."""
    out: list[str] = []
    for i, char in enumerate(text):
        prev = text[i - 1] if i else ""
        starts = not out or not ("\u0e01" <= char <= "\u0e5b") or not (
            "\u0e01" <= prev <= "\u0e5b") or (
            ("\u0e01" <= char <= "\u0e2e" or char in _LEADING_VOWELS)
            and prev not in _LEADING_VOWELS)
        if starts:
            out.append(char)
        else:
            out[-1] += char
    return out


def widest_unit(text: str, measure: Callable[[str], float]) -> float:
    """The width of the widest unbreakable unit of ``text``: a column narrower than this
    would have to cut a word, a number or an ID."""
    return max((measure(u) for line in text.split("\n") for u in units(line) if u != " "),
               default=0.0)


def wrap(text: str, width: float, measure: Callable[[str], float]) -> list[str]:
    """``text`` as lines no wider than ``width`` (as ``measure`` tells), broken only between
    units; a unit wider than a whole line is cut between Thai clusters (or characters).

    A line's width is the sum of its units' widths (each measured once): shaping does not
    reach across a word boundary, and measuring every candidate line would cost O(n²)."""
    text = "".join(c for c in text if c not in INVISIBLE)
    sizes: dict[str, float] = {}

    def size(piece: str) -> float:
        if piece not in sizes:
            sizes[piece] = measure(piece)
        return sizes[piece]

    lines: list[str] = []
    for hard in text.split("\n"):
        body = hard.lstrip(" ")
        indent = hard[:len(hard) - len(body)]  # a child row's "  P11-PRIV-03.1" stays indented
        first = len(lines)
        current, used = "", 0.0
        space = False
        for unit in units(body):
            if unit == " ":
                space = bool(current)
                continue
            gap = size(" ") if space else 0.0
            space = False
            if current and used + gap + size(unit) <= width:
                current, used = current + (" " if gap else "") + unit, used + gap + size(unit)
                continue
            if current:
                lines.append(current)
            current, used = unit, size(unit)
            if used > width:  # one unit wider than the column
                current, used = "", 0.0
                for piece in _clusters(unit):
                    if current and used + size(piece) > width:
                        lines.append(current)
                        current, used = "", 0.0
                    current, used = current + piece, used + size(piece)
        lines.append(current)
        lines[first] = indent + lines[first]
    return lines
