"""Text metrics of Heartcare-Bench: ROUGE-L (equal to rouge-score), F1-Bio (equal to bert-score), ECG-term F1."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from heartcare.bench.items import BenchItem
from heartcare.bench.metrics import ScoringContext, score
from heartcare.bench.metrics.rouge import lcs_length, rouge_l_scores, tokenize
from heartcare.bench.metrics.terms import concept_f1, extract_concepts
from heartcare.bench.models.base import Output

ROOT = Path(__file__).resolve().parents[1]

PAIRS = [
    ("", ""),
    ("", "sinus rhythm"),
    ("sinus rhythm", ""),
    ("   ", "sinus rhythm"),
    ("!!! ???", "sinus rhythm"),
    ("sinus rhythm", "sinus rhythm"),
    ("Sinus Rhythm.", "sinus rhythm"),
    ("sinus rhythm", "rhythm sinus"),
    ("the the the the", "the"),
    ("the", "the the the the"),
    ("a b a b a b", "b a b a b a"),
    ("a b c d e f g", "g f e d c b a"),
    ("heart rate 89 bpm", "heart rate 98 bpm"),
    ("PR 172 ms, QRS 160 ms, QT 352 ms", "PR 172 ms, QRS 106 ms, QT 352 ms, QTc 428 ms"),
    ("QTc=428ms", "QTc 428 ms"),
    ("naïve café résumé", "naive cafe resume"),
    ("Ünïcödé ÉCG — 12-lead", "unicode ecg 12 lead"),
    ("心电图 normal ECG", "normal ECG"),
    ("İstanbul ECG", "istanbul ecg"),
    ("ﬁbrillation", "fibrillation"),
    ("right-bundle-branch-block", "right bundle branch block"),
    ("complete right bundle branch block", "incomplete right bundle branch block"),
    ("Diagnostically, the ECG is consistent with complete right bundle branch block.",
     "The ECG shows complete right bundle branch block and left anterior fascicular block."),
    ("The rhythm is atrial fibrillation with rapid ventricular response.", "The rhythm is unremarkable: sinus rhythm."),
    ("1 2 3 4 5 6 7 8 9 10", "10 9 8 7 6 5 4 3 2 1"),
    ("x " * 70, "x " * 65 + "y"),  # crosses the 64-bit word border of the bit-parallel LCS
    ("a b " * 50, "b a " * 50),
    ("Patient: 75 years, male.\nRhythm and rate: sinus rhythm, heart rate 89 bpm.",
     "Patient: 75 years, male.\nRhythm and rate: sinus rhythm, heart rate 89 bpm (60 to 100 bpm)."),
    ("tabs\tand\nnewlines\r\n", "tabs and newlines"),
    ("don't can't won't", "do not cannot will not"),
    ("ST-T changes; T-wave inversion", "st t changes t wave inversion"),
    ("running runs runner", "run running ran"),
    ("hypertrophies hypertrophy", "hypertrophy"),
]


def test_rouge_equals_rouge_score_on_fixed_pairs() -> None:
    from rouge_score import rouge_scorer

    reference_scorer = rouge_scorer.RougeScorer(["rougeL"])
    expected = [reference_scorer.score(target, prediction)["rougeL"].fmeasure for prediction, target in PAIRS]
    ours = rouge_l_scores([p for p, _ in PAIRS], [t for _, t in PAIRS])
    assert len(PAIRS) >= 30
    np.testing.assert_allclose(ours, expected, rtol=0, atol=1e-9)
    assert len(set(np.round(expected, 6))) > 10  # the pairs really exercise the metric


def test_rouge_stemmed_equals_rouge_score_with_stemmer() -> None:
    from rouge_score import rouge_scorer

    reference_scorer = rouge_scorer.RougeScorer(["rougeL"], use_stemmer=True)
    expected = [reference_scorer.score(target, prediction)["rougeL"].fmeasure for prediction, target in PAIRS]
    ours = rouge_l_scores([p for p, _ in PAIRS], [t for _, t in PAIRS], stem=True)
    np.testing.assert_allclose(ours, expected, rtol=0, atol=1e-9)


def test_lcs_matches_dynamic_programming_on_random_sequences() -> None:
    rng = np.random.default_rng(0)
    for _ in range(200):
        a = tuple(rng.choice(list("abcd"), size=rng.integers(0, 90)))
        b = tuple(rng.choice(list("abcd"), size=rng.integers(0, 90)))
        table = np.zeros((len(a) + 1, len(b) + 1), dtype=int)
        for i in range(1, len(a) + 1):
            for j in range(1, len(b) + 1):
                table[i, j] = table[i - 1, j - 1] + 1 if a[i - 1] == b[j - 1] else max(table[i - 1, j], table[i, j - 1])
        assert lcs_length(a, b) == table[-1, -1]


def test_rouge_metric_uses_answer_text_and_scores_missing_text_zero() -> None:
    closed = BenchItem(id="1", task="closed_qa", dimension="diagnosis", modality="S", question="q",
                       answer="A: sinus rhythm", choices=("sinus rhythm", "atrial fibrillation"), answer_index=0)
    items = [closed, closed, closed]
    outputs = [Output(text="Sinus rhythm."), Output(text=None), Output(text="")]
    np.testing.assert_allclose(score("rouge_l", items, outputs, ScoringContext()), [1.0, 0.0, 0.0])
    assert tokenize("Sinus-Rhythm, 60 bpm") == ("sinus", "rhythm", "60", "bpm")


# --- F1-Bio (BERTScore) ---

BIO_PREDICTIONS = [
    "The ECG shows complete right bundle branch block.",
    "Sinus rhythm, normal ECG.",
    "Atrial fibrillation with rapid ventricular response.",
    "The weather in Paris is lovely in spring.",
]
BIO_REFERENCES = [
    "Diagnostically, the ECG is consistent with complete right bundle branch block.",
    "The rhythm is unremarkable: sinus rhythm.",
    "The rhythm is consistent with atrial fibrillation.",
    "Diagnostically, the ECG is consistent with inferior myocardial infarction.",
]


def test_f1_bio_equals_bert_score_called_directly() -> None:
    import bert_score

    from heartcare.bench.metrics.bertscore import bertscore_f1, resolve_encoder

    path, layer = resolve_encoder(None)
    assert layer == 6  # MiniLM-L6: the last layer
    _, _, expected = bert_score.score(BIO_PREDICTIONS, BIO_REFERENCES, model_type=path, num_layers=layer)
    ours = bertscore_f1(BIO_PREDICTIONS, BIO_REFERENCES, batch_size=3)
    np.testing.assert_allclose(ours, expected.numpy(), atol=1e-5)


def test_f1_bio_metric_identical_high_unrelated_lower_empty_zero() -> None:
    items = [BenchItem(id=str(i), task="open_qa", dimension="diagnosis", modality="S", question="q", answer=reference)
             for i, reference in enumerate(BIO_REFERENCES[:2] * 2)]
    outputs = [Output(text=BIO_REFERENCES[0]), Output(text="Bananas are yellow and rich in potassium."),
               Output(text=None), Output(text="   ")]
    values = score("f1_bio", items, outputs, ScoringContext())
    assert values[0] == pytest.approx(1.0, abs=1e-4)
    assert 0.0 < values[1] < 0.8
    assert values[2] == 0.0 and values[3] == 0.0


# --- ECG-term F1 ---

CLINICAL = [
    ("Complete right bundle branch block.", {"CRBBB"}),
    ("RBBB and LVH.", {"CRBBB", "LVH"}),
    ("CRBBB with left anterior fascicular block", {"CRBBB", "LAFB"}),
    ("Incomplete right bundle branch block.", {"IRBBB"}),
    ("Atrial fibrillation with rapid ventricular response.", {"AFIB"}),
    ("AFib, rate 120.", {"AFIB"}),
    ("AF", {"AFIB"}),
    ("Normal sinus rhythm. Normal ECG.", {"SR", "NORM"}),
    ("Left ventricular hypertrophy by voltage; T-wave inversions in V5-V6.", {"LVH", "INVT"}),
    ("Voltage criteria (QRS) for left ventricular hypertrophy.", {"VCLVH"}),
    ("Paroxysmal supraventricular tachycardia", {"PSVT"}),
    ("Sinus bradycardia with first-degree AV block.", {"SBRAD", "1AVB"}),
    ("Frequent PVCs and premature atrial complexes.", {"PVC", "PAC"}),
    ("Inferior MI, age undetermined; anterolateral ischemia.", {"IMI", "ISCAL"}),
    # negation
    ("No atrial fibrillation.", set()),
    ("No ST elevation.", set()),
    ("No ST elevation, but T-wave inversion in lead III.", {"INVT"}),
    ("Sinus rhythm without evidence of ischemia or LVH.", {"SR"}),
    ("Atrial fibrillation is absent; sinus rhythm.", {"SR"}),
    ("Neither AF nor atrial flutter.", set()),
    ("Not consistent with left bundle branch block.", set()),
    # hedges stay positive
    ("Atrial fibrillation cannot be excluded.", {"AFIB"}),
    ("Cannot exclude inferior myocardial infarction.", {"IMI"}),
    ("Possible left atrial enlargement.", {"LAO/LAE"}),
    # ordinary words are not abbreviations
    ("Keep a steady pace and dig into the norm; the patient's af-ternoon was fine.", set()),
    ("The waveform is unremarkable: no significant waveform abnormality.", set()),
]


@pytest.mark.parametrize(("text", "expected"), CLINICAL, ids=[case[0][:40] for case in CLINICAL])
def test_extract_concepts_from_clinical_sentences(text: str, expected: set[str]) -> None:
    assert set(extract_concepts(text)) == expected


def test_every_heartagent_phrasing_maps_back_to_its_code() -> None:
    from heartcare.agent.questions.findings import hedged_phrase
    from heartcare.agent.vocabulary import (
        ECTOPY_CLASSES,
        NORMAL_CODES,
        NORMAL_PHRASES,
        describe_code,
    )
    from heartcare.sources.scp import statements

    for code in statements():
        assert set(extract_concepts(describe_code(code))) == {code}, code
        assert set(extract_concepts(describe_code(code).upper())) == {code}, code
        for likelihood in (100, 70, 40, 10):  # consistent with / likely / possible / cannot be excluded
            assert set(extract_concepts(hedged_phrase(code, likelihood) + ".")) == {code}, (code, likelihood)
    for dimension, phrase in NORMAL_PHRASES.items():
        assert set(extract_concepts(phrase)) == ({NORMAL_CODES[dimension]} if dimension in NORMAL_CODES else set())
    for code, phrase in ECTOPY_CLASSES.items():
        assert set(extract_concepts(f"Ectopy: {phrase}.")) == ({code} if code in statements() else set())


def test_open_answers_and_reports_yield_exactly_their_codes() -> None:
    """HeartAgent's own wording maps back to exactly the codes its reading names (no more, no fewer)."""
    from heartcare.agent.description import RecordDescription
    from heartcare.agent.questions.open import dimension_sentence, open_answer
    from heartcare.agent.questions.report import RECOMMENDATIONS, build_report
    from heartcare.agent.reading import read
    from heartcare.sources.scp import statements

    codes = list(statements())
    rng = np.random.default_rng(0)
    for _ in range(300):
        chosen = rng.choice(codes, size=rng.integers(1, 5), replace=False)
        labels = {str(code): float(rng.choice([0, 15, 35, 50, 70, 100])) for code in chosen}
        description = RecordDescription(record_id="r", patient_id="p", labels=labels, age=60, sex="F",
                                        measurements={"hr_bpm": 72.0, "axis_deg": 30.0})
        reading = read(description)
        expected_report: set[str] = set()
        for dimension in ("diagnosis", "waveform", "rhythm"):
            text, named = open_answer(description, dimension)
            assert set(extract_concepts(text)) == set(named), text
            expected_report |= set(dimension_sentence(reading, dimension)[1])
        assert set(extract_concepts(build_report(description))) == expected_report
    for advice in RECOMMENDATIONS.values():
        assert extract_concepts(advice) == frozenset()


def test_term_f1_values() -> None:
    assert concept_f1(set(), set()) == 1.0
    assert concept_f1({"AFIB"}, set()) == 0.0
    assert concept_f1({"AFIB", "LVH"}, {"AFIB"}) == pytest.approx(2 / 3)
    items = [BenchItem(id=str(i), task="report", dimension="diagnosis", modality="S", question="q", answer=answer)
             for i, answer in enumerate(["Sinus rhythm. Complete right bundle branch block.", "Normal axis."] * 2)]
    outputs = [Output(text="sinus rhythm with RBBB"), Output(text="Axis normal."), Output(text="No RBBB."),
               Output(text=None)]
    np.testing.assert_allclose(score("term_f1", items, outputs, ScoringContext()), [1.0, 1.0, 0.0, 0.0])


def test_bench_script_quick_runs() -> None:
    result = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "bench.py"), "--quick"], cwd=ROOT,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    assert "FAIL" not in result.stdout and "ROUGE-L" in result.stdout
