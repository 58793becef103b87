#!/usr/bin/env bash
# Pin every dependency, with hashes, from pyproject.toml:
#   requirements.lock       what the server needs (the Docker image and ./dev serve)
#   requirements-test.lock  that plus the [test] tools (./dev test and CI)
# Run after changing pyproject.toml's dependencies, and to take updates on purpose.
set -euo pipefail
cd "$(dirname "$0")/.."
tools=$(mktemp -d)
trap 'rm -rf "$tools"' EXIT
python3 -m venv "$tools"
"$tools/bin/pip" install --quiet "pip-tools==7.6.2"
common=(--quiet --strip-extras --generate-hashes --allow-unsafe --no-emit-index-url
        --no-emit-find-links --upgrade)
"$tools/bin/pip-compile" "${common[@]}" -o requirements.lock pyproject.toml
"$tools/bin/pip-compile" "${common[@]}" --extra test -o requirements-test.lock pyproject.toml
