"""Can the page's trace texture lift the picture finding readers? Image features vs texture vs both vs chosen per kind.

    python benchmarks/texture_readability.py DATASET FEATURES [--kinds misc/noise misc/ectopy ...] [--items 5000]

FEATURES is the dataset's feature cache holding the pictures' texture (built since texture was
cached, or given it with `heartcare gpt features DATASET --out FEATURES --add-texture`). For each
closed question kind, on its picture items (I): the readers' own fit (multinomial logistic
regression, `heartcare.model.findings`) on a hash-ranked sample of `--items` train items, scored
as the `findings:` bench adapter scores (the most believed of the item's own options) on the valid
and, apart, the test items, from four inputs:

- baseline: what the picture readers of K, L, M and Mc read (image features of the 12 lead crops:
  their mean and spread and the 12 side by side, `image_finding_views` 12);
- texture alone (heartcare.render.texture, 77 numbers a page);
- both side by side (one reader over both);
- chosen: per kind, whichever of the three is right most often on the valid items, what a model
  refitted with `heartcare gpt refit --image-finding-texture on` reads (`_fit_on_chosen_columns`).
  Its test figure is the honest one: the choice never saw the test items.

Prints accuracy per input on valid and test, train-majority accuracy, and the chosen input's paired
difference over the baseline on test with its 95% bootstrap interval; the baseline column is the
comparison. A gain here is an upper bound of what the readers can pass on to the language model.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from waveform_readability import KIND_PREFIX, PICTURE_VIEWS, _correct  # noqa: E402

INPUTS = ("views", "texture", "both")  # the order ties are broken in, as the refit breaks them


def _input(cache, record: str, name: str) -> np.ndarray:
    from heartcare.model.examples import finding_input

    if name == "texture":
        return cache.texture(record, 0)
    views = finding_input(cache.image(record, 0), views=PICTURE_VIEWS)[0]
    return views if name == "views" else np.concatenate([views, cache.texture(record, 0)])


def readability(dataset: str, features: str, kind: str, items: int) -> dict | None:
    import torch

    from heartcare.agent.description import stable_hash
    from heartcare.bench.bootstrap import paired_difference
    from heartcare.bench.dataset import BenchDataset
    from heartcare.model.feature_cache import FeatureCache
    from heartcare.model.findings import finding_kind, reads_finding

    data, cache = BenchDataset(dataset), FeatureCache(features)
    first = next(iter(cache._shard_of), None)
    if first is None or not cache.has(first, f"texture/{first}/0"):
        raise SystemExit(f"{features}: no trace texture in this cache; add it with `heartcare gpt features {dataset} --out {features} --add-texture`")

    def members(split: str) -> list:
        return [item for item in data.items(split) if reads_finding(item, "I") and finding_kind(item) == KIND_PREFIX + kind
                and item.ecgs[0].record_id in cache]

    train = sorted(members("train"), key=lambda item: stable_hash(0, kind, item.id))[:items]
    held = {"valid": members("valid"), "test": members("test")}
    answers = sorted({item.choices[item.answer_index] for item in train})
    if len(answers) < 2 or not held["test"]:
        return None
    started = time.perf_counter()
    targets = torch.tensor([answers.index(item.choices[item.answer_index]) for item in train])

    def table(chosen: list, name: str):
        return torch.from_numpy(np.stack([_input(cache, item.ecgs[0].record_id, name) for item in chosen]).astype(np.float32))

    scores = {(name, split): _correct(table(train, name), targets, table(chosen, name), chosen, answers) if chosen else np.zeros(0)
              for name in INPUTS for split, chosen in held.items()}
    valid_right = {name: scores[(name, "valid")].sum() for name in INPUTS}
    chosen = max(INPUTS, key=lambda name: (valid_right[name], -INPUTS.index(name)))  # ties: the earlier input
    majority = max(np.mean([item.choices[item.answer_index] == answer for item in held["test"]]) for answer in answers)
    return {"train": len(train), "valid": len(held["valid"]), "test": len(held["test"]), "majority": float(majority),
            "scores": {f"{name}/{split}": float(values.mean()) if values.size else float("nan") for (name, split), values in scores.items()},
            "chosen": chosen, "gain": paired_difference(scores[(chosen, "test")], scores[("views", "test")]),
            "measuring_s": time.perf_counter() - started}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dataset", help="a HeartAgent dataset")
    parser.add_argument("features", help="its feature cache, holding the pictures' texture")
    parser.add_argument("--kinds", nargs="+", default=["misc/noise", "misc/ectopy", "waveform/waveform", "rhythm/rhythm", "diagnosis/diagnosis"])
    parser.add_argument("--items", type=int, default=5000, help="train items per kind (the readers' fit uses 5,000)")
    args = parser.parse_args()
    print("| kind (I) | train / valid / test | majority (test) | baseline: image features, valid / test | texture alone | both "
          "| chosen on valid | chosen, test vs baseline [paired 95% CI] | measuring |")
    print("|---|---|---|---|---|---|---|---|---|")
    for kind in args.kinds:
        result = readability(args.dataset, args.features, kind, args.items)
        if result is None:
            print(f"| {kind} | no train answers or test items of this kind | | | | | | | |")
            continue
        score, gain = result["scores"], result["gain"]
        low, high = (100 * bound for bound in gain["ci"])
        cells = [f"{100 * score[f'{name}/valid']:.1f} / {100 * score[f'{name}/test']:.1f}" for name in INPUTS]
        print(f"| {kind} | {result['train']} / {result['valid']} / {result['test']} | {100 * result['majority']:.1f} | {' | '.join(cells)} "
              f"| {result['chosen']} | {100 * score[result['chosen'] + '/test']:.1f} ({100 * gain['difference']:+.1f} [{low:+.1f}, {high:+.1f}]) "
              f"| {result['measuring_s']:.0f} s |")


if __name__ == "__main__":
    main()
