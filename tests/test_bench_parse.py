"""The multiple-choice answer parser: a table of phrasings, including ones that must not parse."""

from __future__ import annotations

import pytest

from heartcare.bench.parse import named_options, parse_choice

DIAGNOSES = (
    "complete right bundle branch block",
    "inferior myocardial infarction",
    "septal hypertrophy",
    "inferoposterior myocardial infarction",
)
NESTED = (
    "supraventricular tachycardia",
    "sinus rhythm",
    "atrial fibrillation",
    "paroxysmal supraventricular tachycardia",
)
SLASHED = ("right atrial overload/enlargement", "digitalis-effect", "non-specific ST elevation", "ST-T changes")
PAIR = ("the first ECG", "the second ECG")

CASES = [
    # letters alone and wrapped
    ("B", DIAGNOSES, 1),
    ("b", DIAGNOSES, 1),
    ("(B)", DIAGNOSES, 1),
    ("[c]", DIAGNOSES, 2),
    ("B:", DIAGNOSES, 1),
    ("B.", DIAGNOSES, 1),
    ("B)", DIAGNOSES, 1),
    ("  D  \n", DIAGNOSES, 3),
    ("**C**", DIAGNOSES, 2),
    ("a", DIAGNOSES, 0),
    # lead-ins
    ("Answer: B", DIAGNOSES, 1),
    ("answer: b", DIAGNOSES, 1),
    ("The answer is B", DIAGNOSES, 1),
    ("The answer is (C).", DIAGNOSES, 2),
    ("Based on the tracing, the correct option is B.", DIAGNOSES, 1),
    ("Option B", DIAGNOSES, 1),
    ("**Answer:** D", DIAGNOSES, 3),
    ("The best choice would be A.", DIAGNOSES, 0),
    ("I think it's C.", DIAGNOSES, 2),
    ("My answer: a", DIAGNOSES, 0),
    # letter with text that agrees
    ("B: inferior myocardial infarction", DIAGNOSES, 1),
    ("A. Complete right bundle branch block.", DIAGNOSES, 0),
    ("(D) inferoposterior myocardial infarction", DIAGNOSES, 3),
    ("The answer is A: complete right bundle branch block, given the wide QRS.", DIAGNOSES, 0),
    ("Option C: septal hypertrophy", DIAGNOSES, 2),
    # option text alone, case- and punctuation-insensitive
    ("Complete right bundle branch block.", DIAGNOSES, 0),
    ("SEPTAL HYPERTROPHY", DIAGNOSES, 2),
    ("The ECG shows an inferior myocardial infarction.", DIAGNOSES, 1),
    ("right atrial overload / enlargement", SLASHED, 0),
    ("Digitalis effect", SLASHED, 1),
    ("non specific st elevation", SLASHED, 2),
    ("A patient with complete right bundle branch block.", DIAGNOSES, 0),
    ("It is a complete right bundle branch block", DIAGNOSES, 0),
    # an option inside a longer one: the longest (exact) match wins
    ("paroxysmal supraventricular tachycardia", NESTED, 3),
    ("Supraventricular tachycardia.", NESTED, 0),
    ("D: paroxysmal supraventricular tachycardia", NESTED, 3),
    ("The second ECG", PAIR, 1),
    ("B: the second ECG", PAIR, 1),
    # must NOT parse
    ("", DIAGNOSES, None),
    ("   ", DIAGNOSES, None),
    ("**", DIAGNOSES, None),
    ("I don't know.", DIAGNOSES, None),
    ("I think the tracing is hard to read.", DIAGNOSES, None),
    ("A patient with chest pain should be seen by a cardiologist.", DIAGNOSES, None),
    ("The answer is a block of some kind.", DIAGNOSES, None),
    ("A or B", DIAGNOSES, None),
    ("A, B", DIAGNOSES, None),
    ("Either B or C could be right.", DIAGNOSES, None),
    ("A and B are both possible.", DIAGNOSES, None),
    ("E", DIAGNOSES, None),
    ("Answer: E", DIAGNOSES, None),
    ("(F)", DIAGNOSES, None),
    ("Z", DIAGNOSES, None),
    ("A: septal hypertrophy", DIAGNOSES, None),
    ("The answer is B, complete right bundle branch block.", DIAGNOSES, None),
    ("complete right bundle branch block or septal hypertrophy", DIAGNOSES, None),
    ("Sinus rhythm with atrial fibrillation episodes", NESTED, None),
    ("Inverted T-wave(s) in lead V1", DIAGNOSES, None),
    ("None of the above.", DIAGNOSES, None),
    ("C", PAIR, None),
]


@pytest.mark.parametrize(("text", "choices", "expected"), CASES, ids=[repr(case[0])[:40] for case in CASES])
def test_parse_choice_table(text: str, choices: tuple[str, ...], expected: int | None) -> None:
    assert parse_choice(text, choices) == expected


def test_table_is_large_and_has_negatives() -> None:
    assert len(CASES) >= 40
    assert sum(expected is None for _, _, expected in CASES) >= 15


def test_no_choices_never_parses() -> None:
    assert parse_choice("A", ()) is None


def test_every_letter_and_every_option_text_round_trip() -> None:
    choices = ("alpha wave", "beta", "gamma rays", "delta", "epsilon", "zeta", "eta", "theta")
    for index, choice in enumerate(choices):
        letter = "ABCDEFGH"[index]
        assert parse_choice(letter, choices) == index
        assert parse_choice(f"The answer is {letter}.", choices) == index
        assert parse_choice(f"{letter}: {choice}", choices) == index
        assert parse_choice(choice.upper() + "!", choices) == index


def test_named_options_drops_matches_inside_longer_ones() -> None:
    assert named_options("paroxysmal supraventricular tachycardia", NESTED) == {3}
    assert named_options("supraventricular tachycardia then sinus rhythm", NESTED) == {0, 1}
