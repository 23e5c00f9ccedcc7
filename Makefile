# Shortcuts; each target is one command from README.md.
.PHONY: setup course test clean-runs

setup:            ## create .venv and install the course
	python3 -m venv .venv && .venv/bin/pip install -e ".[test]"

course:           ## run notebooks 00-10 on the sample into runs/
	.venv/bin/python -m helpers run

test:             ## the test suite (runs the whole course once; about 15 min on 2 cores)
	.venv/bin/python -m pytest

clean-runs:
	rm -rf runs/
