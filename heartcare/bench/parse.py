"""Which option a free-text answer picks: a letter ("B", "(B)", "Answer: B"), an option's text, or both agreeing.

Conservative by design (accuracy counts unparsable as wrong, and the parse rate is
reported): an answer naming two letters, two options, a letter outside the choices,
or a letter whose attached text names another option parses as None. Ordinary words
are not letters: "A patient with ..." uses "A" as an article and "I think" is a pronoun
(letters stop at H). Option texts match case- and punctuation-insensitively at word
borders, and an option found only inside a longer option's match (e.g. "supraventricular
tachycardia" inside "paroxysmal supraventricular tachycardia") does not count.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from functools import lru_cache

from heartcare.bench.items import LETTERS

# A lead-in naming the answer, then the letter: "answer is B", "correct option: (C)", "choice d".
_MARKED = re.compile(
    r"\b(?:answer|option|choice)s?\b(?:\s+(?:is|was|would\s+be|will\s+be|should\s+be|must\s+be|seems\s+to\s+be))?"
    r"\s*[:=\-]?\s*(?:\*+\s*)?[(\[]?([A-Za-z])(?![\w'’-])[)\].:]?",
    re.IGNORECASE,
)
# "(B)" / "[b]" anywhere.
_BRACKETED = re.compile(r"(?<![0-9A-Za-z])[(\[]\s*([A-Za-z])\s*[)\]]")  # not "wave(s)"
# "B: text", "b) text", "C. text" at the start of the answer or of a line.
_LEADING = re.compile(r"(?:^|\n)\s*([A-Za-z])\s*[:.)\]](?=\s|$)")
# A lone capital letter: "B", "I pick C.", "A or B". "A" is an article unless what follows
# is punctuation, the end, or a word that only a letter would take ("A or B", "A is right").
_BARE = re.compile(r"(?<![\w'’-])([A-H])(?![\w'’-])(?:\s+([A-Za-z]+))?")
_LETTER_FOLLOWERS = frozenset(
    "or and nor vs versus is was seems appears would should must fits matches best because since but then".split()
)
# Whole answer is just a letter, possibly wrapped: "b", "(B)", "B.", "**C**".
_LONE = re.compile(r"^[(\[]?\s*([A-Za-z])\s*[)\]]?\s*[.:)]?$")
_MARKUP = re.compile(r"[*_`#]+")
_NON_WORD = re.compile(r"[^0-9a-z]+")


def _normalise(text: str) -> str:
    """Lowercase words joined by single spaces, padded with one space each side for border-safe `find`."""
    return " " + " ".join(_NON_WORD.sub(" ", text.lower()).split()) + " "


@lru_cache(maxsize=16384)
def _option(choice: str) -> tuple[str, re.Pattern[str] | None]:
    """An option's normalised text and a regex finding it in raw text (to blank it before the letter search)."""
    words = re.findall(r"[0-9A-Za-z]+", choice)
    if not words:
        return _normalise(choice), None
    separator = r"[^0-9A-Za-z]+"
    return _normalise(choice), re.compile(
        r"(?<![0-9A-Za-z])" + separator.join(map(re.escape, words)) + r"(?![0-9A-Za-z])", re.IGNORECASE
    )


def named_options(text: str, choices: Sequence[str]) -> set[int]:
    """Indices of options whose text the answer contains, ignoring ones found only inside a longer option's match."""
    normalised = [_option(choice)[0] for choice in choices]
    haystack = _normalise(text)
    spans: list[tuple[int, int, int]] = []  # (start, end, option)
    for index, option in enumerate(normalised):
        if option == "  ":
            continue
        start = haystack.find(option)
        while start >= 0:
            spans.append((start, start + len(option), index))
            start = haystack.find(option, start + 1)
    named = set()
    for start, end, index in spans:
        inside_longer = any(
            other_start <= start and end <= other_end and (other_end - other_start) > (end - start)
            for other_start, other_end, _ in spans
        )
        if not inside_longer:
            named.add(index)
    return named


def mentioned_letters(text: str, choices: Sequence[str]) -> set[str]:
    """Capital letters the answer names as options (any A-Z for explicit forms, so "Answer: E" is caught)."""
    stripped = text.strip()
    lone = _LONE.match(stripped)
    if lone:
        return {lone.group(1).upper()}
    letters = {match.group(1).upper() for match in _MARKED.finditer(text) if _is_letter(match)}
    letters |= {match.group(1).upper() for match in _BRACKETED.finditer(text)}
    letters |= {match.group(1).upper() for match in _LEADING.finditer(text)}
    # Bare capitals only count as options when they are in range, and never inside an option's own text.
    blanked = text
    for choice in choices:
        pattern = _option(choice)[1]
        if pattern is not None:
            blanked = pattern.sub(" ", blanked)
    valid = LETTERS[: len(choices)]
    for match in _BARE.finditer(blanked):
        letter, follower = match.group(1), match.group(2)
        if letter not in valid or (
            letter == "A" and follower is not None and follower.lower() not in _LETTER_FOLLOWERS
        ):
            continue
        letters.add(letter)
    return letters


def _is_letter(match: re.Match[str]) -> bool:
    """A lowercase letter after "answer is" is an article ("answer is a block") unless nothing word-like follows."""
    letter = match.group(1)
    if letter.isupper():
        return True
    rest = match.string[match.end():].lstrip()
    return not rest or not rest[0].isalnum()


def parse_choice(text: str, choices: Sequence[str]) -> int | None:
    """The 0-based option the answer picks, or None when it names none, several, or contradicts itself."""
    if not text or not choices:
        return None
    text = _MARKUP.sub("", text)
    if not text.strip():
        return None
    letters = mentioned_letters(text, choices)
    named = named_options(text, choices)
    if len(letters) > 1:
        return None
    if letters:
        index = ord(letters.pop()) - ord("A")
        if index >= len(choices):
            return None
        # A letter wins when no option text is named or its own text is among those named.
        return index if not named or index in named else None
    return named.pop() if len(named) == 1 else None
