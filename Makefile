# Shortcuts; each target is one command from README.md.
.PHONY: setup course test test-fast lint clean-runs

setup:            ## create .venv and install the course
	python3 -m venv .venv && .venv/bin/pip install -e ".[test]"

course:           ## run notebooks 00-10 on the sample into runs/
	.venv/bin/python -m helpers run

test:             ## the whole test suite, as CI runs it (runs the course several times; about 25 min on 2 cores)
	.venv/bin/python -m pytest

test-fast:        ## the fast loop: every test not marked course (no course, notebook, subprocess or JVM; under 2 min on 2 cores)
	.venv/bin/python -m pytest -m "not course"

lint:             ## ruff check (configured in pyproject.toml)
	.venv/bin/ruff check .

clean-runs:
	rm -rf runs/
