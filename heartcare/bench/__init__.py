"""Heartcare-Bench: the evaluation harness every model is measured with.

Tasks are YAML files (`tasks/`), metrics and model adapters are plain-dict
registries (`metrics.METRICS`, `models.MODELS`), `runner.run_bench` evaluates one
model on a HeartAgent dataset split and writes `results.json`, `predictions.jsonl`
and a report. Nothing heavy is imported here.
"""
