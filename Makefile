# Two commands do everything: `make run` (set up, migrate, demo data, serve) and `make test`.
PY := .venv/bin/python
PORT ?= 8000
PYTEST_ARGS ?=

.PHONY: setup run test lint format ci bench screenshots migrations-check clean

setup:
	@./scripts/bootstrap.sh

# Daphne also sends the patient texts (a thread that retries every NOTIFY_SWEEP_SECONDS), so a
# single `make run` needs no separate `manage.py send_notifications` process.
run: setup
	@mkdir -p var
	DEBUG=$${DEBUG:-1} $(PY) manage.py migrate --noinput
	DEBUG=$${DEBUG:-1} $(PY) manage.py seed_demo
	@DEBUG=$${DEBUG:-1} PORT=$(PORT) $(PY) scripts/print_urls.py
	DEBUG=$${DEBUG:-1} exec $(PY) -m queue_system.asgi_server --verbosity 0 -b 0.0.0.0 -p $(PORT) queue_system.asgi:application

test: setup
	$(PY) -m pytest $(PYTEST_ARGS)

lint: setup
	.venv/bin/ruff check .
	.venv/bin/ruff format --check .

format: setup
	.venv/bin/ruff format .
	.venv/bin/ruff check --fix .

migrations-check: setup
	DEBUG=1 $(PY) manage.py makemigrations --check --dry-run

bench: setup
	$(PY) -m bench $(BENCH_ARGS)

screenshots: setup
	$(PY) -m pytest tests/browser/test_screenshots.py tests/browser/test_display_sizes.py tests/browser/test_languages.py \
		-p no:randomly $(PYTEST_ARGS)

ci:
	bash .ci/run

clean:
	rm -rf var staticfiles db.sqlite3 db.sqlite3-*
