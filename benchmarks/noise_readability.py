"""Can the signal-quality answers be read from what a build stores? Denoised build vs as recorded.

    python benchmarks/noise_readability.py DENOISED_BUILD RECORDED_BUILD [--items 3000]

Both builds come from the same cohort (`heartcare agent build ... --denoise` and without). Per
build: the closed signal-quality items (S) of every split, a hash-ranked sample of `--items`, a
quarter of the records held out; a multinomial logistic regression (the finding tokens' own
fit) on the recording descriptors (`heartcare.ecg.recording`) of each stored signal. Prints top-1
against the train majority, balanced accuracy (what a balanced test split measures; chance 25%)
and the recall per answer. The first build is the baseline: a signal stored denoised no longer
shows the noise the question asks about.
"""

from __future__ import annotations

import argparse

import numpy as np


def readability(path: str, items: int) -> dict:
    import torch

    from heartcare.agent.description import stable_hash
    from heartcare.bench.dataset import BenchDataset
    from heartcare.ecg.record import Ecg
    from heartcare.ecg.recording import recording_features
    from heartcare.model.findings import _fit_classifier, finding_kind, reads_finding

    data = BenchDataset(path)
    pool = [item for split in ("train", "valid", "test") for item in data.items(split)
            if reads_finding(item, "S") and finding_kind(item) == "closed_qa/misc/noise"]
    chosen = sorted(pool, key=lambda item: stable_hash(0, "noise", item.id))[:items]
    answers = sorted({item.choices[item.answer_index] for item in chosen})
    position = {answer: index for index, answer in enumerate(answers)}
    held = [stable_hash(1, "held", item.ecgs[0].record_id) % 4 == 0 for item in chosen]

    def table(keep: bool):
        members = [item for item, out in zip(chosen, held, strict=True) if out == keep]
        rows = [recording_features(Ecg(*data.signal(item.ecgs[0].record_id))) for item in members]
        return torch.from_numpy(np.stack(rows)), torch.tensor([position[item.choices[item.answer_index]] for item in members])

    train_x, train_y = table(False)
    test_x, test_y = table(True)
    mean, spread = train_x.mean(0), train_x.std(0).clamp_min(1e-6)
    predicted = _fit_classifier((train_x - mean) / spread, train_y, len(answers))((test_x - mean) / spread).argmax(-1)
    recall = {answer: float((predicted[test_y == index] == index).float().mean())
              for index, answer in enumerate(answers) if (test_y == index).any()}
    majority = int(torch.bincount(train_y, minlength=len(answers)).argmax())
    return {"train": len(train_y), "test": len(test_y), "majority": float((test_y == majority).float().mean()),
            "top1": float((predicted == test_y).float().mean()), "balanced": float(np.mean(list(recall.values()))), "recall": recall}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("denoised", help="a build made with --denoise (the baseline)")
    parser.add_argument("recorded", help="the same cohort built as recorded")
    parser.add_argument("--items", type=int, default=3000)
    args = parser.parse_args()
    results = {name: readability(path, args.items) for name, path in (("denoised (baseline)", args.denoised), ("as recorded", args.recorded))}
    answers = sorted({answer for result in results.values() for answer in result["recall"]})
    print("| build | train / held out | majority | top-1 | balanced | " + " | ".join(f"recall: {a}" for a in answers) + " |")
    print("|---" * (5 + len(answers)) + "|")
    for name, result in results.items():
        recalls = " | ".join(f"{100 * result['recall'].get(a, float('nan')):.0f}" for a in answers)
        print(f"| {name} | {result['train']} / {result['test']} | {100 * result['majority']:.1f} | {100 * result['top1']:.1f} "
              f"| {100 * result['balanced']:.1f} | {recalls} |")
    gain = 100 * (results["as recorded"]["balanced"] - results["denoised (baseline)"]["balanced"])
    print(f"\nbalanced accuracy, as recorded minus denoised: {gain:+.1f} points")


if __name__ == "__main__":
    main()
