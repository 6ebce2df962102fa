"""What a user of the sdist gets: every kernel source, a loud build failure without them, metadata.

The full round trip (build the sdist, install it in a fresh virtual
environment, run ``cnnprop verify --quick``) compiles every kernel and so
lives in CI (.ci/run, step 4), not here.
"""
import importlib.util
import os
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
needs_source_tree = pytest.mark.skipif(not (ROOT / "setup.py").is_file() or not (ROOT / "src").is_dir(),
                                       reason="needs the source tree (setup.py, src/)")


def _pyproject():
    try:
        import tomllib
    except ImportError:  # Python < 3.11
        tomllib = pytest.importorskip("tomli")
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


@needs_source_tree
def test_the_sdist_holds_every_kernel_source(tmp_path):
    """Issue 9.7: without MANIFEST.in the sdist had no .pyx file and built a wheel with no kernels."""
    if importlib.util.find_spec("build") is None:
        pytest.skip("the 'build' package is not installed")
    if importlib.util.find_spec("setuptools") is None or importlib.util.find_spec("Cython") is None:
        # a user's test environment has no Cython (pip builds in isolation); .ci/run's
        # sdist step builds the sdist with isolation, installs it and verifies it
        pytest.skip("the build requirements (setuptools, Cython) are not installed here")
    # A copy of the sources alone: a left-over *.egg-info/SOURCES.txt in the
    # tree would smuggle the kernel sources into the sdist and hide the defect.
    tree = tmp_path / "tree"
    shutil.copytree(ROOT, tree, ignore=shutil.ignore_patterns(
        ".git", "build", "dist", "*.egg-info", "*.so", "*.c", "*.html", "__pycache__", ".asv", ".hypothesis",
        ".pytest_cache", "artifacts", ".venv*", "venv*"))
    # No isolation (no network): the build requirements are those of this environment.
    out = subprocess.run([sys.executable, "-m", "build", "--sdist", "--no-isolation", "--outdir", str(tmp_path),
                          str(tree)], capture_output=True, text=True, timeout=600)
    if out.returncode != 0 and "Missing dependencies" in out.stdout + out.stderr:
        pytest.skip("the build requirements are not installed here")
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-2000:]
    (sdist,) = tmp_path.glob("cnnprop-*.tar.gz")
    with tarfile.open(sdist) as tar:
        names = {name.split("/", 1)[1] for name in tar.getnames() if "/" in name}
    kernels = sorted(p.relative_to(ROOT).as_posix() for p in (ROOT / "src/cnnprop/_kernels").iterdir()
                     if p.suffix in (".pyx", ".pxd", ".h"))
    python = sorted(p.relative_to(ROOT).as_posix() for p in (ROOT / "src/cnnprop").rglob("*.py"))
    assert kernels and set(kernels) <= names, sorted(set(kernels) - names)
    assert set(python) <= names, sorted(set(python) - names)
    for name in ("README.md", "LICENSE", "pyproject.toml", "setup.py", "MANIFEST.in"):
        assert name in names
    # nothing generated or compiled travels in the sdist
    assert not [n for n in names if n.endswith((".c", ".so", ".o", ".pyc"))]
    if importlib.util.find_spec("twine") is not None:
        check = subprocess.run([sys.executable, "-m", "twine", "check", "--strict", str(sdist)],
                               capture_output=True, text=True, timeout=120)
        assert check.returncode == 0, check.stdout + check.stderr


@needs_source_tree
def test_setup_fails_loudly_without_kernel_sources(tmp_path):
    """Issue 9.7: setup.py built a py3-none-any wheel with no kernels, without complaint."""
    shutil.copy(ROOT / "setup.py", tmp_path)
    shutil.copy(ROOT / "pyproject.toml", tmp_path)
    shutil.copy(ROOT / "README.md", tmp_path)
    shutil.copy(ROOT / "LICENSE", tmp_path)
    package = tmp_path / "src" / "cnnprop" / "_kernels"
    package.mkdir(parents=True)
    (package.parent / "__init__.py").write_text("")
    (package / "__init__.py").write_text("")
    out = subprocess.run([sys.executable, "setup.py", "build_ext"], cwd=tmp_path, capture_output=True,
                         text=True, timeout=300, env=dict(os.environ, PYTHONPATH=""))
    assert out.returncode != 0
    assert "cnnprop: cannot build: the Cython kernel sources are missing" in out.stderr


def test_metadata_users_expect():
    """Issue 9.8: no LICENSE file, no Python-version or OS classifiers."""
    if not (ROOT / "pyproject.toml").is_file():
        pytest.skip("needs the source tree")
    project = _pyproject()["project"]
    license_text = (ROOT / "LICENSE").read_text()
    assert "BSD 3-Clause License" in license_text and "The cnnprop developers" in license_text
    assert project["license"] == "BSD-3-Clause" and project["license-files"] == ["LICENSE"]
    classifiers = set(project["classifiers"])
    for minor in range(9, 14):
        assert f"Programming Language :: Python :: 3.{minor}" in classifiers
    assert project["requires-python"] == ">=3.9"
    assert {"Operating System :: POSIX :: Linux", "Operating System :: MacOS"} <= classifiers
    assert any(c.startswith("Development Status ::") for c in classifiers)
