# Every target creates .venv when missing and installs what it needs; re-running is quick.
VENV    ?= .venv
PY      := $(VENV)/bin/python
PIP     := $(PY) -m pip
TORCH   := torch==2.14.1 torchvision==0.29.1
STAMP   := $(VENV)/.installed-$(shell cat pyproject.toml | cksum | cut -d' ' -f1)

.PHONY: run test bench lint install clean

$(PY):
	python3 -m venv $(VENV)

$(STAMP): pyproject.toml | $(PY)
	$(PIP) install --quiet --upgrade pip
	$(PIP) install --quiet $(TORCH)
	$(PIP) install --quiet -e '.[experiments,dev,cluster]' $(TORCH)
	rm -f $(VENV)/.installed-*
	touch $(STAMP)

install: $(STAMP)

run: install
	$(VENV)/bin/predict-energy --model vgg16

test: install
	$(VENV)/bin/pytest -q

bench: install
	@for b in benchmarks/bench_*.py; do echo "== $$b"; $(PY) $$b || exit 1; done

lint: install
	$(VENV)/bin/ruff check layerpower tests benchmarks
	$(VENV)/bin/ruff format --check layerpower tests benchmarks

clean:
	rm -rf $(VENV) .pytest_cache
