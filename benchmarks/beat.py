"""Beat encode throughput vs the machine's measured float32 matmul rate.

Prints a table of windows/s at batch 1 and at a large batch (2 threads by default),
the share of the matmul peak measured in the same run (from the encoder's counted
FLOPs per window) and the estimated time for one PTB-XL-size pass (21,799 windows),
against the named baseline run alongside: the same encoder called the plain PyTorch
way (whole batch in one call on intra-op threads).
Requirements (issue 5): >= 60% of matmul peak at large batch; PTB-XL pass < 60 s.

    python benchmarks/beat.py [--preset paper] [--threads 2] [--batch 128] [--json] [--full-pass]

--full-pass also times a real pass over 21,799 windows (random signals, --batch at a
time) after the interleaved probes, so the estimate can be checked against a clock.
"""

from __future__ import annotations

import argparse
import json
import time

import torch

from heartcare.beat.config import preset
from heartcare.beat.model import build_beat

PTBXL_RECORDS = 21_799


def interleaved_best(functions: dict[str, callable], seconds: float) -> tuple[dict[str, float], dict[str, float]]:
    """Best (minimum) wall seconds and process CPU seconds per call of each function, timed in alternation.

    On a shared machine other processes steal time in bursts; alternating the
    matmul probe and the encoder lets both see the same quiet moments, so their
    ratio (share of peak) stays meaningful even when absolute rates wander.
    """
    for function in functions.values():
        function()  # warm-up: allocator, oneDNN/MKL kernel selection
    best = {name: float("inf") for name in functions}
    best_cpu = {name: float("inf") for name in functions}
    started = time.perf_counter()
    rounds = 0
    while time.perf_counter() - started < seconds or rounds < 3:
        for name, function in functions.items():
            tick, cpu_tick = time.perf_counter(), time.process_time()
            function()
            best[name] = min(best[name], time.perf_counter() - tick)
            best_cpu[name] = min(best_cpu[name], time.process_time() - cpu_tick)
        rounds += 1
    return best, best_cpu


def matmul_probe(size: int):
    """A float32 GEMM of `size` x `size` x `size` and its FLOP count."""
    a, b, out = torch.randn(size, size), torch.randn(size, size), torch.empty(size, size)
    return (lambda: torch.mm(a, b, out=out)), 2 * size**3


def full_pass(model, config, batch: int) -> float:
    """Wall seconds to encode 21,799 random windows, `batch` at a time. Eight distinct batches,
    made beforehand, are cycled: the content does not change the cost, and the whole set
    (1 GB for the paper preset) need not sit in memory."""
    generator = torch.Generator().manual_seed(1)
    pool = [torch.randn(batch, config.leads, config.context, generator=generator) for _ in range(8)]
    tick = time.perf_counter()
    for index, start in enumerate(range(0, PTBXL_RECORDS, batch)):
        model.encode(pool[index % len(pool)][: PTBXL_RECORDS - start])
    return time.perf_counter() - tick


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="paper")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--seconds", type=float, default=20.0, help="timing budget (all probes interleaved)")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--no-compile", action="store_true", help="skip the torch.compile'd float32 encoder")
    parser.add_argument("--full-pass", action="store_true", help="also time a real PTB-XL-size pass (21,799 windows)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    config = preset(args.preset)
    model = build_beat(config).eval()
    flops = model.encoder.flops_per_window()
    probes = {f"matmul{size}": matmul_probe(size) for size in (1024, 2048)}
    inputs = {batch: torch.randn(batch, config.leads, config.context) for batch in (1, args.batch)}
    functions = {name: probe[0] for name, probe in probes.items()}
    for batch, x in inputs.items():
        functions[f"encode{batch}"] = lambda x=x: model.encode(x)
    large_input = inputs[args.batch]
    # The named baseline: the same encoder and quantiser called the plain PyTorch way, the
    # whole batch in one call on intra-op threads (no window-parallel chunks).
    functions["plain"] = lambda: model.quantizer.encode(model.encoder(large_input))
    # The same weights with the encoder compiled by torch.compile (float32, fused elementwise
    # work around the GEMMs); skipped with a note when compilation is unavailable.
    compiled = build_beat(config).eval()
    compiled.load_state_dict(model.state_dict())
    compiled_ok = not args.no_compile and compiled.compile_encoder()
    if compiled_ok:
        for batch, x in inputs.items():
            functions[f"compiled{batch}"] = lambda x=x: compiled.encode(x)
    functions["encode_bf16"] = lambda: model.encode(large_input, bfloat16=True)
    with torch.inference_mode():
        best, best_cpu = interleaved_best(functions, args.seconds)
    # The machine's peak: the faster of the two GEMM sizes.
    peak = max(probes[name][1] / best[name] for name in probes)
    eager_rate = {batch: batch / best[f"encode{batch}"] for batch in inputs}
    compiled_rate = {batch: batch / best[f"compiled{batch}"] for batch in inputs} if compiled_ok else {}
    # The float32 encoder as shipped: compiled when that worked and was faster, else eager.
    rate = {batch: max(eager_rate[batch], compiled_rate.get(batch, 0.0)) for batch in inputs}
    fastest = "compiled" if compiled_ok and compiled_rate[args.batch] > eager_rate[args.batch] else "encode"
    # CPU-time reading: FLOPs per CPU-second of the encoder over that of the GEMM.
    cpu_peak = max(probes[name][1] / best_cpu[name] for name in probes)
    cpu_share = 100 * (flops * args.batch / best_cpu[f"{fastest}{args.batch}"]) / cpu_peak
    report = {
        "preset": args.preset,
        "threads": args.threads,
        "encoder_flops_per_window": flops,
        "matmul_peak_gflops": peak / 1e9,
        "matmul_gflops_by_size": {name: probes[name][1] / best[name] / 1e9 for name in probes},
        "float32_encoder": "torch.compile" if fastest == "compiled" else "eager",
        "eager_large_batch_share_of_peak_percent": 100 * eager_rate[args.batch] * flops / peak,
        "compiled_large_batch_share_of_peak_percent": (100 * compiled_rate[args.batch] * flops / peak) if compiled_ok else None,
        "plain_pytorch_windows_per_second": args.batch / best["plain"],
        "plain_pytorch_share_of_peak_percent": 100 * (args.batch / best["plain"]) * flops / peak,
        "plain_pytorch_ptbxl_pass_estimate_seconds": PTBXL_RECORDS * best["plain"] / args.batch,
        "batch1_windows_per_second": rate[1],
        f"batch{args.batch}_windows_per_second": rate[args.batch],
        "batch1_share_of_peak_percent": 100 * rate[1] * flops / peak,
        "large_batch_share_of_peak_percent": 100 * rate[args.batch] * flops / peak,
        "ptbxl_pass_estimate_seconds": PTBXL_RECORDS / rate[args.batch],
        # The pass scales with the host's speed: the matmul peak at which this share of it
        # would encode PTB-XL in 60 s (the machine is shared, so its peak wanders).
        "peak_needed_for_60s_pass_gflops": PTBXL_RECORDS * flops / 60 / (rate[args.batch] * flops / peak) / 1e9,
        "large_batch_share_of_peak_cpu_time_percent": cpu_share,
        # Optional bfloat16 encoder (not part of the float32 requirement): speed and
        # how many codes agree with float32 (on random inputs and random weights).
        "bf16_windows_per_second": args.batch / best["encode_bf16"],
        "bf16_ptbxl_pass_estimate_seconds": PTBXL_RECORDS * best["encode_bf16"] / args.batch,
        "bf16_code_agreement_percent": 100 * float((model.encode(large_input).codes == model.encode(large_input, bfloat16=True).codes).float().mean()),
    }
    if args.full_pass:
        report["ptbxl_pass_measured_seconds"] = full_pass(model, config, args.batch)
    if args.json:
        print(json.dumps(report, indent=2))
        return
    print(f"Beat encode benchmark ({args.preset}, {args.threads} threads, {flops / 1e6:.1f} MFLOP per window)")
    sizes = ", ".join(f"{name[6:]}: {value:.1f}" for name, value in report["matmul_gflops_by_size"].items())
    print(f"matmul peak (fp32, same run): {report['matmul_peak_gflops']:.1f} GFLOP/s ({sizes})\n")
    rows = [
        (f"heartcare, batch {args.batch} ({report['float32_encoder']})", rate[args.batch]),
        (f"plain PyTorch, batch {args.batch} (baseline)", report["plain_pytorch_windows_per_second"]),
        ("heartcare, batch 1", rate[1]),
    ]
    if compiled_ok:
        rows.append((f"torch.compile, batch {args.batch}", compiled_rate[args.batch]))
    rows.append((f"bfloat16 (optional), batch {args.batch}", report["bf16_windows_per_second"]))
    print(f"| {'encoder':40s} | windows/s | % of peak | PTB-XL pass |")
    print(f"|{'-' * 42}|-----------|-----------|-------------|")
    for name, windows_per_second in rows:
        share = 100 * windows_per_second * flops / peak
        print(f"| {name:40s} | {windows_per_second:9.1f} | {share:8.1f}% | {PTBXL_RECORDS / windows_per_second:9.1f} s |")
    speedup = rate[args.batch] / report["plain_pytorch_windows_per_second"]
    print(f"\nheartcare vs plain PyTorch: {speedup:.2f}x")
    print(f"share of peak at batch {args.batch}: {report['large_batch_share_of_peak_percent']:.1f}% (required >= 60%; "
          f"CPU-time basis, insensitive to other processes: {cpu_share:.1f}%)")
    print(f"PTB-XL pass ({PTBXL_RECORDS} windows): {report['ptbxl_pass_estimate_seconds']:.1f} s estimated (required < 60 s); "
          f"at this share it needs a matmul peak of {report['peak_needed_for_60s_pass_gflops']:.0f} GFLOP/s "
          f"(this run: {report['matmul_peak_gflops']:.0f})")
    print(f"bfloat16 codes equal to float32: {report['bf16_code_agreement_percent']:.1f}%")
    if args.full_pass:
        print(f"PTB-XL pass measured: {report['ptbxl_pass_measured_seconds']:.1f} s for {PTBXL_RECORDS} windows "
              f"(batches of {args.batch}, wall clock)")

if __name__ == "__main__":
    main()
