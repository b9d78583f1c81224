"""`heartcare serve` under load: N concurrent clients on loopback vs the same requests sent one at a time.

    python benchmarks/serve.py [--model CKPT] [--clients 8] [--requests 24] [--max-tokens 32]
                               [--time-limit 600] [--json FILE]
    python benchmarks/serve.py --tiny     # a small random HeartcareGPT: checks the machinery in ~1 min

The server runs as its own process (`heartcare serve`, as users start it), so the clients'
threads never share an interpreter with it. Every request is a chat completion carrying one
simulated 12-lead ECG inline (`input_ecg`, npy, 500 Hz, 10 s) and a question, greedy,
`max_tokens` fixed; the ECGs and questions cycle over a fixed list, so both runs send
exactly the same requests. Baseline: the requests one at a time (one client). Then N
clients, each sending its share back to back. Reported per run: requests/s, p50/p95
latency, errors, generated tokens/s. Target: 0 errors and >= 2x the sequential requests/s
at 8 clients. Default model: the demo's HeartcareGPT (`make demo` writes it), else `--tiny`.
"""

from __future__ import annotations

import argparse
import base64
import io
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np

REPOSITORY = Path(__file__).resolve().parents[1]
DEMO_MODEL = REPOSITORY / "demo-output" / "gpt" / "joint"
CONDITIONS = ("normal", "atrial_fibrillation", "left_bundle_branch_block", "sinus_tachycardia")
QUESTIONS = ("What is the rhythm of this ECG?", "Is there a bundle branch block?", "Describe the QRS complex.",
             "What is the heart rate category?")
TARGET_SPEEDUP = 2.0


def request_bodies(count: int, max_tokens: int, model: str) -> list[bytes]:
    from heartcare.sim.simulate import SimulationSpec, simulate

    ecgs = []
    for seed, condition in enumerate(CONDITIONS):
        record = simulate(SimulationSpec(conditions={condition: 0.8}), fs=500.0, seconds=10.0, seed=seed).ecg
        buffer = io.BytesIO()
        np.save(buffer, record.signal.astype(np.float32))
        ecgs.append(base64.b64encode(buffer.getvalue()).decode())
    bodies = []
    for index in range(count):
        content = [{"type": "input_ecg", "input_ecg": {"data": ecgs[index % len(ecgs)], "format": "npy", "fs": 500}},
                   {"type": "text", "text": QUESTIONS[(index // len(ecgs)) % len(QUESTIONS)]}]
        bodies.append(json.dumps({"model": model, "max_tokens": max_tokens, "temperature": 0,
                                  "messages": [{"role": "user", "content": content}]}).encode())
    return bodies


def post(url: str, body: bytes, timeout: float) -> tuple[float, int, str | None]:
    """(seconds, completion tokens, error or None)."""
    started = time.perf_counter()
    request = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            payload = json.loads(response.read())
        return time.perf_counter() - started, int(payload["usage"]["completion_tokens"]), None
    except (urllib.error.URLError, TimeoutError, KeyError, ValueError) as error:
        return time.perf_counter() - started, 0, f"{type(error).__name__}: {error}"


def run(url: str, bodies: list[bytes], clients: int, deadline: float) -> dict:
    """Send `bodies` with `clients` threads (client i sends bodies i, i + clients, ...); stop starting new ones at the deadline."""
    results: list[tuple[float, int, str | None]] = []
    lock = threading.Lock()

    def client(index: int) -> None:
        for body in bodies[index::clients]:
            if time.monotonic() > deadline:
                return
            outcome = post(url, body, timeout=max(deadline - time.monotonic(), 1.0))
            with lock:
                results.append(outcome)

    started = time.perf_counter()
    threads = [threading.Thread(target=client, args=(index,)) for index in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - started
    latencies = sorted(seconds for seconds, _, error in results if error is None)
    errors = [error for _, _, error in results if error is not None]
    return {"clients": clients, "requests": len(results), "errors": len(errors), "first_error": errors[0] if errors else None,
            "seconds": elapsed, "requests_per_s": len(latencies) / elapsed,
            "p50_s": statistics.median(latencies) if latencies else None,
            "p95_s": latencies[min(len(latencies) - 1, int(0.95 * len(latencies)))] if latencies else None,
            "tokens_per_s": sum(tokens for _, tokens, _ in results) / elapsed}


def start_server(model: Path, port: int, max_batch: int) -> subprocess.Popen:
    command = [str(Path(sys.executable).with_name("heartcare")), "serve", "--model", str(model), "--port", str(port),
               "--max-batch", str(max_batch), "--max-queue", "64"]
    server = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise SystemExit(f"the server exited: {server.stderr.read()[-2000:]}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as response:
                if json.loads(response.read())["chat"]:
                    return server
        except (urllib.error.URLError, ConnectionError):
            time.sleep(0.5)
    server.kill()
    raise SystemExit("the server did not start within 5 minutes")


def free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=None, help=f"HeartcareGPT checkpoint (default {DEMO_MODEL} if present)")
    parser.add_argument("--tiny", action="store_true", help="a small random HeartcareGPT built in a temp folder")
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--requests", type=int, default=24, help="requests per run (both runs send the same ones)")
    parser.add_argument("--max-tokens", type=int, default=32)
    parser.add_argument("--time-limit", type=float, default=600.0, help="seconds per run before no new request starts")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="heartcare-serve-bench-") as scratch:
        model = args.model
        if model is None and not args.tiny and (DEMO_MODEL / "config.json").is_file():
            model = DEMO_MODEL
        if model is None:
            from heartcare.model.tiny import tiny_heartcare_gpt

            model = tiny_heartcare_gpt(Path(scratch) / "tiny")
        port = free_port()
        server = start_server(model, port, args.clients)
        try:
            base = f"http://127.0.0.1:{port}"
            with urllib.request.urlopen(f"{base}/v1/models") as response:
                served = json.loads(response.read())["data"][0]["id"]
            bodies = request_bodies(args.requests, args.max_tokens, served)
            url = f"{base}/v1/chat/completions"
            post(url, bodies[0], timeout=300)  # warm-up: first-call costs (weights paged in, kernels chosen) out of both runs
            sequential = run(url, bodies, 1, time.monotonic() + args.time_limit)
            concurrent = run(url, bodies, args.clients, time.monotonic() + args.time_limit)
        finally:
            server.terminate()
            server.wait(timeout=60)

    speedup = concurrent["requests_per_s"] / sequential["requests_per_s"] if sequential["requests_per_s"] else 0.0
    print(f"model: {model}  ({args.requests} requests, max_tokens {args.max_tokens}, {os.cpu_count()} cores)")
    print(f"{'run':<22}{'requests':>9}{'errors':>8}{'req/s':>8}{'p50 s':>8}{'p95 s':>8}{'tokens/s':>10}")
    for name, result in (("one at a time", sequential), (f"{args.clients} clients", concurrent)):
        print(f"{name:<22}{result['requests']:>9}{result['errors']:>8}{result['requests_per_s']:>8.2f}"
              f"{result['p50_s'] or float('nan'):>8.2f}{result['p95_s'] or float('nan'):>8.2f}{result['tokens_per_s']:>10.1f}")
    passed = concurrent["errors"] == 0 and sequential["errors"] == 0 and speedup >= TARGET_SPEEDUP
    print(f"throughput {speedup:.2f}x sequential (target >= {TARGET_SPEEDUP}x, 0 errors): {'PASS' if passed else 'FAIL'}")
    for result in (sequential, concurrent):
        if result["first_error"]:
            print(f"first error ({result['clients']} clients): {result['first_error']}")
    if args.json:
        args.json.write_text(json.dumps({"model": str(model), "sequential": sequential, "concurrent": concurrent,
                                         "speedup": speedup, "passed": passed}, indent=2))
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
