"""Backend discovery and selection: llama_cpp.backends(), python -m llama_cpp backends, LLAMA_CPP_BACKENDS."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import llama_cpp
import llama_cpp_core
from conftest import run_python


def cli_backends(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "llama_cpp", "backends", *args], capture_output=True, text=True,
                          timeout=120, env={**os.environ, **(env or {})})


def test_llama_cpp_reexports_backends() -> None:
    assert llama_cpp.backends is llama_cpp_core.backends
    assert "backends" in llama_cpp.__all__
    found = llama_cpp.backends()
    cpu = [b for b in found if b.name == "cpu" and b.loaded]
    assert len(cpu) == 1 and cpu[0].plugin is None
    assert cpu[0].devices and cpu[0].devices[0].type == "cpu" and cpu[0].devices[0].memory_total > 0
    rpc = [b for b in found if b.name == "rpc"]
    assert rpc and rpc[0].loaded and rpc[0].error is None
    # every backend that did not load says why
    assert all(b.error for b in found if not b.loaded)


def test_cli_lists_backends_and_devices() -> None:
    r = cli_backends()
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert any(line.startswith("cpu") and "loaded" in line for line in lines), r.stdout
    assert any(line.strip().startswith("CPU:") and "MiB total" in line for line in lines), r.stdout
    assert any(line.startswith("rpc") for line in lines), r.stdout


def test_cli_json_matches_the_api() -> None:
    r = cli_backends("--json")
    assert r.returncode == 0, r.stderr
    report = json.loads(r.stdout)
    names = {(b["name"], b["loaded"]) for b in report["backends"]}
    assert names == {(b.name, b.loaded) for b in llama_cpp.backends()}
    cpu = next(b for b in report["backends"] if b["name"] == "cpu" and b["loaded"])
    assert cpu["devices"][0]["type"] == "cpu"


def test_backend_selection_cpu_only_keeps_cpu_and_rpc() -> None:
    r = run_python(
        """
        import llama_cpp
        loaded = sorted(b.name for b in llama_cpp.backends() if b.loaded)
        skipped = {b.name: b.error for b in llama_cpp.backends() if not b.loaded and b.name != "cpu"}
        print(loaded)
        assert loaded == ["cpu", "rpc"], loaded
        assert all("LLAMA_CPP_BACKENDS=cpu" in why for why in skipped.values()), skipped
        print("ok")
        """,
        env={"LLAMA_CPP_BACKENDS": "cpu"},
    )
    assert r.returncode == 0 and r.stdout.strip().endswith("ok"), r.stderr[-2000:]


def test_unknown_backend_name_is_a_logged_warning_not_an_error() -> None:
    r = run_python(
        """
        import llama_cpp
        print(sorted(b.name for b in llama_cpp.backends() if b.loaded))
        """,
        env={"LLAMA_CPP_BACKENDS": "nosuchgpu,cpu"},
    )
    assert r.returncode == 0, r.stderr
    assert "'cpu'" in r.stdout
    assert "nosuchgpu" in r.stderr and "no installed backend provides" in r.stderr


def test_a_plugin_that_cannot_load_is_skipped_with_its_reason(tmp_path) -> None:
    """A plugin whose library the dynamic loader refuses: skipped, reason reported, interpreter fine."""
    pkg = tmp_path / "site" / "fake_gpu_plugin"
    (pkg / "lib").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "lib" / "libggml-fakegpu.so").write_bytes(b"\x7fELF this is not a shared library")
    info = tmp_path / "site" / "fake_gpu_plugin-1.0.dist-info"
    info.mkdir()
    (info / "entry_points.txt").write_text("[llama_cpp_core.backends]\nfakegpu = fake_gpu_plugin\n")
    r = run_python(
        f"""
        import sys
        sys.path.insert(0, {str(tmp_path / "site")!r})
        import llama_cpp
        fake = [b for b in llama_cpp.backends() if b.name == "fakegpu"]
        assert len(fake) == 1 and not fake[0].loaded and fake[0].plugin == "fakegpu", fake
        print("why:", fake[0].error)
        assert any(b.name == "cpu" and b.loaded for b in llama_cpp.backends())
        """
    )
    assert r.returncode == 0, r.stderr[-2000:]
    assert "why: the dynamic loader refused libggml-fakegpu.so" in r.stdout
    assert "skipped" in r.stderr  # the logged warning


def test_a_plugin_that_aborts_while_loading_is_probed_in_a_child(tmp_path) -> None:
    """A backend library whose initialiser aborts the process: only the probe process dies."""
    import shutil

    cc = shutil.which("cc") or shutil.which("gcc")
    assert cc, "a C compiler is needed to build the aborting test library"
    pkg = tmp_path / "site" / "abort_plugin"
    (pkg / "lib").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    src = tmp_path / "abort.c"
    src.write_text("#include <stdlib.h>\n__attribute__((constructor)) static void boom(void) { abort(); }\n"
                   "void * ggml_backend_init(void) { return 0; }\n")
    subprocess.run([cc, "-shared", "-fPIC", "-o", str(pkg / "lib" / "libggml-abortgpu.so"), str(src)], check=True)
    info = tmp_path / "site" / "abort_plugin-1.0.dist-info"
    info.mkdir()
    (info / "entry_points.txt").write_text("[llama_cpp_core.backends]\nabortgpu = abort_plugin\n")
    r = run_python(
        f"""
        import sys
        sys.path.insert(0, {str(tmp_path / "site")!r})
        import llama_cpp
        bad = [b for b in llama_cpp.backends() if b.name == "abortgpu"][0]
        assert not bad.loaded
        print("why:", bad.error)
        """
    )
    assert r.returncode == 0, r.stderr[-2000:]
    assert "why: loading libggml-abortgpu.so in a probe process was killed by SIGABRT" in r.stdout


def _ggml_x86_variants(vendor: Path) -> dict[str, set[str]]:
    import re

    text = (vendor / "ggml" / "src" / "CMakeLists.txt").read_text()
    block = text[text.index('if (GGML_SYSTEM_ARCH STREQUAL "x86")', text.index("GGML_CPU_ALL_VARIANTS")):]
    block = block[:block.index("elseif")]
    return {m.group(1): set(m.group(2).split()) for m in re.finditer(r"ggml_add_cpu_backend_variant\((\w+)([^)]*)\)", block)}


def test_core_cmake_knows_every_ggml_x86_variant(vendor_dir) -> None:
    """packages/llama-cpp-core/CMakeLists.txt's per-variant ISA lists are ggml's own."""
    import re

    from conftest import REPO

    ggml = _ggml_x86_variants(vendor_dir)
    assert {"zen4", "sapphirerapids", "cooperlake", "cascadelake", "cannonlake"} <= set(ggml)
    ours_text = (REPO / "packages" / "llama-cpp-core" / "CMakeLists.txt").read_text()
    ours = {m.group(1): set(m.group(2).split()) for m in re.finditer(r"set\(_isa_(\w+)\s*([^)]*)\)", ours_text)}
    ours = {k: {v for v in vals if v != '""'} for k, vals in ours.items()}
    assert ours == ggml


def test_auto_variant_is_the_best_this_cpu_runs(vendor_dir) -> None:
    import importlib.util
    import platform

    from conftest import REPO

    spec = importlib.util.spec_from_file_location("cpu_variant", REPO / "packages" / "llama-cpp-core" / "build_tools" / "cpu_variant.py")
    assert spec and spec.loader
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    ggml = _ggml_x86_variants(vendor_dir)
    listed = [name for name, _ in mod.VARIANTS] + [name for name, _ in mod.EXPLICIT_ONLY] + ["x64"]
    assert sorted(listed) == sorted(ggml)  # auto chooses from ggml's whole list
    if platform.machine().lower() not in ("x86_64", "amd64"):
        assert mod.best_variant() == "all"
        return
    flags = set()
    for line in open("/proc/cpuinfo"):
        if line.startswith("flags"):
            flags = set(line.split(":", 1)[1].split())
            break
    best = mod.best_variant()
    needs = dict(mod.VARIANTS).get(best, set())
    assert needs <= flags
    # nothing more capable in the list would also run here
    ranked = [name for name, _ in mod.VARIANTS]
    assert all(not (dict(mod.VARIANTS)[n] <= flags) for n in ranked[:ranked.index(best)] if best in ranked)
    if {"avx512f", "avx512vbmi", "avx512_vnni", "avx512_bf16"} <= flags:
        assert best == "zen4"
