# Two commands on a fresh Debian machine: `make demo` and `make test`.
# Both install what is missing (system packages, .venv, the package) first.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
AS_OF  ?= 2026-11-24

# Debian packages the tool and its tests need (fonts, Pango for WeasyPrint,
# libqrencode for QR codes, pdftotext/pdffonts, headless Chromium for page tests).
SYSTEM_PACKAGES := libpango-1.0-0 libpangoft2-1.0-0 libharfbuzz-subset0 libqrencode4 \
                   fonts-noto-cjk poppler-utils chromium

.PHONY: demo test system venv golden clean bench-print

demo: $(STAMP)
	$(BIN)/memberportal --as-of $(AS_OF) check
	$(BIN)/memberportal --as-of $(AS_OF) build
	$(BIN)/memberportal --as-of $(AS_OF) report
	$(BIN)/memberportal --as-of $(AS_OF) inserts --parcels members/parcels-example.csv
	$(BIN)/memberportal --as-of $(AS_OF) cards
	$(BIN)/memberportal --as-of $(AS_OF) notebook --member M0001
	$(BIN)/memberportal --as-of $(AS_OF) notebook --booklet

test: $(STAMP)
	$(BIN)/ruff check generator tests bench
	$(BIN)/python -m pytest

golden: $(STAMP)
	$(BIN)/python -m pytest --update-golden

system:
	@missing=""; for p in $(SYSTEM_PACKAGES); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "install ok installed" || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  echo "installing system packages:$$missing"; \
	  SUDO=""; [ "$$(id -u)" -ne 0 ] && SUDO=sudo; \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $$missing; \
	fi

$(STAMP): pyproject.toml | system
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[test]'
	touch $(STAMP)

venv: $(STAMP)

clean:
	rm -rf $(VENV) output .pytest_cache

bench-print: $(STAMP)
	$(BIN)/python bench/inserts.py
