"""Can measured amplitudes lift the finding readers? Their input today vs the same plus morphology.

    python benchmarks/waveform_readability.py DATASET FEATURES [--kinds waveform/waveform] [--items 5000]
    python benchmarks/waveform_readability.py DATASET FEATURES --modality I --pages PAGES [--workers 2]

The closed signal items (S) of each question kind; the readers' own fit (multinomial logistic
regression, `heartcare.model.findings`) on the train split (a hash-ranked sample of `--items`),
scored on every valid and test item of the kind (both held out of the fit and leak-free; the test
split alone has 50 waveform items) as the `findings:` bench adapter scores: the most believed of
the item's own options. Three inputs per kind:

- baseline: what a model with `--finding-tokens` reads today (Beat latents' mean and spread from the
  feature cache plus the recording descriptors; K's and L's readers);
- + morphology: the same plus `heartcare.ecg.morphology` of the stored signal (per-lead P, Q, R, S,
  ST, T in mV, the intervals, voltage and count criteria);
- morphology alone.

With `--modality I` the same for the closed picture items: the baseline is what the picture readers
read (image features of the item's page, `image_finding_views` 12 as K's and M's), and morphology
is read off the page itself by the digitiser (heartcare.render.digitize; zeros and a 0 flag for a
page it cannot read, so no item is dropped). Digitised pages are kept under PAGES (one .npy per
record, read back without pickle) so a rerun measures nothing twice; the table says how many of
the pages were read. `--strip-recording` adds the rhythm strip's recording descriptors (noise,
drift, hum, bursts: `DigitizedPage.strip_recording`) to what is read off the page, for the noise kind.

Prints accuracy, train-majority accuracy, the paired difference over the baseline with its 95%
bootstrap interval, and the seconds spent measuring; the baseline column is the comparison. A gain here is an upper bound of what the readers could pass on to the language model.
"""

from __future__ import annotations

import argparse
import io
import time

import numpy as np

KIND_PREFIX = "closed_qa/"
PICTURE_VIEWS = 12  # image_finding_views of the picture readers measured in the README (K, L, M)


def _correct(train_x, train_y, test_x, items, answers: list[str]) -> np.ndarray:
    import torch

    from heartcare.model.findings import _fit_classifier

    mean, spread = train_x.mean(0), train_x.std(0).clamp_min(1e-6)
    classifier = _fit_classifier((train_x - mean) / spread, train_y, len(answers))
    with torch.no_grad():
        beliefs = classifier((test_x - mean) / spread)
    position = {answer: index for index, answer in enumerate(answers)}
    right = []
    for belief, item in zip(beliefs, items, strict=True):
        known = [(float(belief[position[choice]]), index) for index, choice in enumerate(item.choices) if choice in position]
        right.append(bool(known) and max(known)[1] == item.answer_index)
    return np.asarray(right, dtype=np.float64)


def digitized_pages(data, records: list[str], pages: str, workers: int, strip_recording: bool = False) -> dict[str, np.ndarray]:
    """{record: page_morphology of its first picture}, from PAGES or digitised now (and stored);
    with `strip_recording` the rhythm strip's recording descriptors too (keep those in their own PAGES)."""
    from concurrent.futures import ProcessPoolExecutor
    from functools import partial
    from pathlib import Path

    from heartcare.atomic import write_atomic
    from heartcare.render.digitize import page_morphology_of_file

    folder = Path(pages)
    folder.mkdir(parents=True, exist_ok=True)
    result, jobs = {}, []
    for record in sorted(set(records)):
        stored = folder / f"{record}.npy"
        if stored.exists():
            result[record] = np.load(stored, allow_pickle=False)
        else:
            jobs.append((record, str(data.image_paths(record)[0]), str(stored)))
    paths = [image for _, image, _ in jobs]
    read = partial(page_morphology_of_file, strip_recording=strip_recording)

    def keep(rows) -> None:  # each page stored as it is read: an interrupted run resumes where it stopped
        for (record, _, stored), (row, _) in zip(jobs, rows, strict=True):
            buffer = io.BytesIO()
            np.save(buffer, row, allow_pickle=False)
            write_atomic(stored, buffer.getvalue())
            result[record] = row

    if workers > 1 and len(jobs) > 1:
        with ProcessPoolExecutor(max_workers=workers) as pool:
            keep(pool.map(read, paths, chunksize=8))
    else:
        keep(read(path) for path in paths)
    return result


def _picture_input(cache, record: str, views: int = PICTURE_VIEWS) -> np.ndarray:
    from heartcare.model.examples import finding_input

    return finding_input(cache.image(record, 0), views=views)[0]


def readability(dataset: str, features: str, kind: str, items: int, modality: str = "S",
                pages: str | None = None, workers: int = 1, views: int = PICTURE_VIEWS, strip_recording: bool = False) -> dict | None:
    import torch

    from heartcare.agent.description import stable_hash
    from heartcare.bench.bootstrap import paired_difference
    from heartcare.bench.dataset import BenchDataset
    from heartcare.ecg.morphology import morphology_features
    from heartcare.ecg.record import Ecg
    from heartcare.model.examples import finding_input
    from heartcare.model.feature_cache import FeatureCache
    from heartcare.model.findings import finding_kind, reads_finding

    data, cache = BenchDataset(dataset), FeatureCache(features)

    def members(split: str) -> list:
        return [item for item in data.items(split) if reads_finding(item, modality) and finding_kind(item) == KIND_PREFIX + kind]

    train = sorted(members("train"), key=lambda item: stable_hash(0, kind, item.id))[:items]
    test = members("valid") + members("test")
    if not train or not test:
        return None
    answers = sorted({item.choices[item.answer_index] for item in train})
    started, morphology = time.perf_counter(), {}
    if modality == "I":
        morphology = digitized_pages(data, [item.ecgs[0].record_id for item in train + test], pages, workers, strip_recording)
    for item in train + test:
        record = item.ecgs[0].record_id
        if record not in morphology:
            morphology[record] = morphology_features(Ecg(*data.signal(record)))
    measuring = time.perf_counter() - started

    def table(chosen: list, inputs: str) -> torch.Tensor:
        rows = []
        for item in chosen:
            record = item.ecgs[0].record_id
            today = (_picture_input(cache, record, views) if modality == "I"
                     else finding_input(cache.signal(record), cache.recording(record))[0])
            parts = [] if inputs == "morphology" else [today]
            parts += [morphology[record]] if inputs != "baseline" else []
            rows.append(np.concatenate(parts))
        return torch.from_numpy(np.stack(rows).astype(np.float32))

    train_y = torch.tensor([answers.index(item.choices[item.answer_index]) for item in train])
    majority = answers[int(torch.bincount(train_y, minlength=len(answers)).argmax())]
    read = [float(morphology[item.ecgs[0].record_id][-1]) for item in train + test] if modality == "I" else [1.0]
    result = {"train": len(train), "test": len(test), "measuring_s": measuring, "pages_read": float(np.mean(read)),
              "majority": sum(item.choices[item.answer_index] == majority for item in test) / len(test)}
    correct = {inputs: _correct(table(train, inputs), train_y, table(test, inputs), test, answers)
               for inputs in ("baseline", "+ morphology", "morphology")}
    result.update({inputs: float(right.mean()) for inputs, right in correct.items()})
    result["gain"] = paired_difference(correct["+ morphology"], correct["baseline"])
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dataset", help="a HeartAgent dataset (built as recorded, as DS4)")
    parser.add_argument("features", help="its feature cache with recording descriptors (`heartcare gpt features`)")
    parser.add_argument("--kinds", nargs="+", default=["waveform/waveform", "diagnosis/diagnosis", "misc/axis", "misc/ectopy"])
    parser.add_argument("--items", type=int, default=5000, help="train items per kind (the readers' fit uses 5,000)")
    parser.add_argument("--modality", choices=("S", "I"), default="S", help="signal items, or picture items read by the digitiser")
    parser.add_argument("--pages", help="with --modality I: folder keeping each record's digitised page")
    parser.add_argument("--workers", type=int, default=1, help="processes digitising pages")
    parser.add_argument("--views", type=int, default=PICTURE_VIEWS,
                        help="with --modality I: image views side by side in the baseline (0: their mean and spread only)")
    parser.add_argument("--strip-recording", action="store_true",
                        help="with --modality I: the page readings also hold the rhythm strip's recording descriptors "
                             "(noise, drift, hum, bursts; give them their own --pages folder)")
    args = parser.parse_args()
    if args.modality == "I" and not args.pages:
        parser.error("--modality I needs --pages FOLDER to keep the digitised pages in")
    print(f"| kind ({args.modality}) | train / valid + test | majority | baseline (today's readers) "
          "| + morphology [paired 95% CI] | morphology alone | measuring | pages read |")
    print("|---|---|---|---|---|---|---|---|")
    for kind in args.kinds:
        result = readability(args.dataset, args.features, kind, args.items, args.modality, args.pages, args.workers,
                             args.views, args.strip_recording)
        if result is None:
            print(f"| {kind} | no train or held-out items of this kind | | | | | | |")
            continue
        gain = result["gain"]
        low, high = (100 * bound for bound in gain["ci"])
        print(f"| {kind} | {result['train']} / {result['test']} | {100 * result['majority']:.1f} | {100 * result['baseline']:.1f} "
              f"| {100 * result['+ morphology']:.1f} ({100 * gain['difference']:+.1f} [{low:+.1f}, {high:+.1f}]) "
              f"| {100 * result['morphology']:.1f} | {result['measuring_s']:.0f} s | {100 * result['pages_read']:.0f}% |")


if __name__ == "__main__":
    main()
