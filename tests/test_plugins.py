"""Plugin wheels and the release pipeline: the CUDA plugin's contents, pin and behaviour without a
GPU; the cibuildwheel matrix of every native package; the workflow files against GitHub's schema."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

import llama_cpp_core
from conftest import REPO, run_python

DIST = REPO / "dist"
BIN = Path(sys.executable).parent


def _tool(name: str) -> str:
    found = shutil.which(name, path=str(BIN)) or shutil.which(name)
    assert found, f"{name} is missing from the test environment (noxfile TEST_REQUIREMENTS)"
    return found


def test_workflow_files_follow_the_github_schema() -> None:
    files = sorted(str(p) for p in (REPO / ".github" / "workflows").glob("*.yml"))
    assert any(f.endswith("release.yml") for f in files)
    r = subprocess.run([_tool("check-jsonschema"), "--builtin-schema", "vendor.github-workflows", *files],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr


@pytest.mark.parametrize(
    "package, platform, expected",
    [
        ("llama-cpp-core", "linux", {"cp312-manylinux_x86_64", "cp312-manylinux_aarch64"}),
        ("llama-cpp-core", "macos", {"cp312-macosx_arm64"}),
        ("llama-cpp-core", "windows", {"cp312-win_amd64"}),
        ("llama-cpp-core-vulkan", "linux", {"cp312-manylinux_x86_64", "cp312-manylinux_aarch64"}),
        ("llama-cpp-core-vulkan", "windows", {"cp312-win_amd64"}),
        ("llama-cpp-core-cuda13", "linux", {"cp312-manylinux_x86_64"}),
        ("llama-cpp-core-cuda13", "windows", {"cp312-win_amd64"}),
        ("llama-cpp-core-cuda12", "linux", {"cp312-manylinux_x86_64"}),
        ("llama-cpp-core-cuda12", "windows", {"cp312-win_amd64"}),
    ],
)
def test_cibuildwheel_matrix(package: str, platform: str, expected: set[str]) -> None:
    r = subprocess.run([_tool("cibuildwheel"), "--print-build-identifiers", "--platform", platform,
                        str(REPO / "packages" / package)], capture_output=True, text=True, timeout=120,
                       env={**os.environ, "CI": ""})
    assert r.returncode == 0, r.stderr
    assert set(r.stdout.split()) == expected


def test_plugins_pin_the_exact_core_version() -> None:
    import tomllib

    core = tomllib.loads((REPO / "packages" / "llama-cpp-core" / "pyproject.toml").read_text())["project"]
    for name in ("vulkan", "cuda12", "cuda13"):
        meta = tomllib.loads((REPO / "packages" / f"llama-cpp-core-{name}" / "pyproject.toml").read_text())
        project = meta["project"]
        assert project["version"] == core["version"]
        assert project["dependencies"] == [f"llama-cpp-core=={core['version']}"]
        assert project["entry-points"]["llama_cpp_core.backends"] == {name: f"llama_cpp_core_{name}"}
    extras = tomllib.loads((REPO / "packages" / "llama-cpp" / "pyproject.toml").read_text())["project"]
    extras = extras["optional-dependencies"]
    for extra in ("cuda12", "cuda13", "cuda12-local", "cuda13-local", "vulkan"):
        plugin = extra.removesuffix("-local")
        assert f"llama-cpp-core-{plugin}=={core['version']}" in extras[extra]
    assert extras["cuda"] == ["llama-cpp[cuda12]"] and "metal" in extras


def _cuda_wheel() -> Path:
    found = sorted(DIST.glob("llama_cpp_core_cuda13-*.whl"))
    if not found:
        pytest.skip("no CUDA 13 plugin wheel in dist/: nox -s build_plugin -- cuda13 (about an hour on 2 cores)")
    return found[-1]


def test_cuda13_wheel_contents_and_pin() -> None:
    wheel = _cuda_wheel()
    with zipfile.ZipFile(wheel) as z:
        names = z.namelist()
        meta = z.read(next(n for n in names if n.endswith(".dist-info/METADATA"))).decode()
        entry_points = z.read(next(n for n in names if n.endswith(".dist-info/entry_points.txt"))).decode()
    libs = [n for n in names if "/lib/" in n]
    assert libs == ["llama_cpp_core_cuda13/lib/libggml-cuda.so"], libs
    assert not any(n.startswith("llama_cpp_core/") for n in names)  # never inside the core's directory
    assert f"Requires-Dist: llama-cpp-core=={llama_cpp_core.__version__}" in meta
    assert "[llama_cpp_core.backends]" in entry_points and "cuda13 = llama_cpp_core_cuda13" in entry_points


def test_cuda13_plugin_without_a_gpu_is_skipped_with_the_reason(tmp_path: Path) -> None:
    wheel = _cuda_wheel()
    with zipfile.ZipFile(wheel) as z:
        z.extractall(tmp_path)  # a wheel unpacked on sys.path is an installed distribution
    r = run_python(
        f"""
        import sys
        sys.path.insert(0, {str(tmp_path)!r})
        import llama_cpp
        cuda = [b for b in llama_cpp.backends() if b.name == "cuda"]
        assert len(cuda) == 1 and cuda[0].plugin == "cuda13", cuda
        print("loaded:", cuda[0].loaded)
        print("why:", cuda[0].error)
        assert any(b.name == "cpu" and b.loaded for b in llama_cpp.backends())
        """
    )
    assert r.returncode == 0, r.stderr[-3000:]
    if os.path.exists("/dev/nvidia0"):
        pytest.skip("this machine has an NVIDIA GPU: the GPU-less path does not apply")
    assert "loaded: False" in r.stdout
    # the driver (libcuda.so.1) or, without NVIDIA's runtime wheels, libcudart/libcublas are missing
    assert "why: the dynamic loader refused libggml-cuda.so" in r.stdout and "lib" in r.stdout
    assert "skipped" in r.stderr  # logged as a warning
