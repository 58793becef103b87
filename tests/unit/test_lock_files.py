"""requirements.lock and requirements-test.lock pin everything pyproject.toml asks for.

./dev and the Docker image install only from the lock files (with --require-hashes), so a
dependency added to pyproject.toml without running scripts/lock.sh must fail here, not in a
build next year.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[2]
_PIN = re.compile(r"^([A-Za-z0-9_.-]+)==([^\s;\\]+)", re.MULTILINE)


def _pins(lock: str) -> dict[str, str]:
    text = (ROOT / lock).read_text()
    assert "--index-url" not in text and "--find-links" not in text, "machine-specific index"
    return {canonicalize_name(name): version for name, version in _PIN.findall(text)}


def _wanted(extra: str | None) -> list[Requirement]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    names = list(project["dependencies"])
    if extra:
        names += project["optional-dependencies"][extra]
    return [Requirement(name) for name in names]


@pytest.mark.parametrize(
    ("lock", "extra"), [("requirements.lock", None), ("requirements-test.lock", "test")]
)
def test_every_dependency_is_pinned_with_a_hash_at_a_version_pyproject_allows(
    lock: str, extra: str | None
) -> None:
    pins = _pins(lock)
    for requirement in _wanted(extra):
        name = canonicalize_name(requirement.name)
        assert name in pins, f"{name} is missing from {lock}: run scripts/lock.sh"
        assert requirement.specifier.contains(pins[name], prereleases=True), (
            f"{lock} pins {name}=={pins[name]}, pyproject.toml wants {requirement.specifier}"
        )
    text = (ROOT / lock).read_text()
    assert text.count("==") == len(pins) and text.count("--hash=sha256:") >= len(pins)


def test_the_test_lock_pins_the_server_lock_identically() -> None:
    server, test = _pins("requirements.lock"), _pins("requirements-test.lock")
    assert {name: test.get(name) for name in server} == server
