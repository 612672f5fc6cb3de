"""The Vulkan plugin wheel (llama-cpp-core-vulkan) beside the core, run for real on Mesa's lavapipe.

CI builds the plugin (nox -s build_plugin -- vulkan) and installs it in the test
environment; ggml hides CPU-type Vulkan devices unless GGML_VK_VISIBLE_DEVICES
is set, so each run here sets it.
"""

from __future__ import annotations

import importlib.util
import os
import re

import pytest

from conftest import run_python

if importlib.util.find_spec("llama_cpp_core_vulkan") is None:
    if os.environ.get("CI"):
        raise RuntimeError("CI must install the llama-cpp-core-vulkan wheel (nox -s build_plugin -- vulkan)")
    pytest.skip("llama-cpp-core-vulkan is not installed: nox -s build_plugin -- vulkan, then nox -s test",
                allow_module_level=True)

LAVAPIPE = {"GGML_VK_VISIBLE_DEVICES": "0"}
PROMPT = "The capital of France is"

GENERATE = """
import logging, sys
logging.basicConfig(level=logging.DEBUG, stream=sys.stderr, format="%(message)s")
import llama_cpp
llm = llama_cpp.Llama(model_path={model!r}, n_gpu_layers={ngl}, n_ctx=128, n_batch=32, verbose=True)
out = llm.create_completion({prompt!r}, max_tokens=6, temperature=0.0)
print("TEXT:" + repr(out["choices"][0]["text"]))
print("BACKENDS:" + repr(sorted((b.name, b.loaded) for b in llama_cpp.backends())))
"""


def generate(model_path: str, ngl: int, env: dict[str, str]) -> tuple[str, str, str]:
    r = run_python(GENERATE.format(model=model_path, ngl=ngl, prompt=PROMPT), env=env, timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    text = next(line[5:] for line in r.stdout.splitlines() if line.startswith("TEXT:"))
    backends = next(line[9:] for line in r.stdout.splitlines() if line.startswith("BACKENDS:"))
    return text, backends, r.stderr


def test_plugin_wheel_layout() -> None:
    import llama_cpp_core_vulkan

    import llama_cpp_core

    lib = llama_cpp_core_vulkan.lib_dir() / "libggml-vulkan.so"
    assert lib.is_file()
    # its own package directory, never the core's
    assert llama_cpp_core_vulkan.lib_dir() != llama_cpp_core.lib_dir()
    assert not (llama_cpp_core.lib_dir() / "libggml-vulkan.so").exists()
    from importlib.metadata import distribution

    dist = distribution("llama-cpp-core-vulkan")
    assert f"llama-cpp-core=={llama_cpp_core.__version__}" in (dist.requires or [])
    assert dist.version == llama_cpp_core.__version__
    assert [ep.value for ep in dist.entry_points if ep.group == "llama_cpp_core.backends"] == ["llama_cpp_core_vulkan"]


def test_backends_report_lavapipe_beside_the_cpu() -> None:
    r = run_python(
        """
        import llama_cpp
        found = {b.name: b for b in llama_cpp.backends()}
        vk = found["vulkan"]
        assert vk.loaded and vk.error is None and vk.plugin == "vulkan", vk
        assert [d.type for d in vk.devices] == ["gpu"], vk.devices
        assert "llvmpipe" in vk.devices[0].description and vk.devices[0].memory_total > 0
        assert found["cpu"].loaded
        print("ok")
        """,
        env=LAVAPIPE,
    )
    assert r.returncode == 0 and r.stdout.strip() == "ok", r.stderr[-2000:]


def test_cpu_only_selection_hides_vulkan() -> None:
    r = run_python(
        """
        import llama_cpp
        vk = [b for b in llama_cpp.backends() if b.name == "vulkan"][0]
        assert not vk.loaded and not vk.devices
        print(vk.error)
        """,
        env={**LAVAPIPE, "LLAMA_CPP_BACKENDS": "cpu"},
    )
    assert r.returncode == 0, r.stderr[-2000:]
    assert "not selected: LLAMA_CPP_BACKENDS=cpu" in r.stdout


def test_without_visible_devices_lavapipe_is_skipped_with_the_reason() -> None:
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if k != "GGML_VK_VISIBLE_DEVICES"}
    code = "import llama_cpp\nvk = [b for b in llama_cpp.backends() if b.name == 'vulkan'][0]\nprint(vk.loaded, vk.error)"
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    assert r.returncode == 0, r.stderr[-2000:]
    assert r.stdout.startswith("False ") and "no usable device" in r.stdout and "GGML_VK_VISIBLE_DEVICES" in r.stdout
    assert r.stderr == ""  # a plugin with nothing to drive is an INFO line, not a warning on every import


def test_all_layers_on_lavapipe_agree_with_the_cpu(model_path: str) -> None:
    cpu_text, cpu_backends, _ = generate(model_path, 0, {"LLAMA_CPP_BACKENDS": "cpu"})
    vk_text, vk_backends, log = generate(model_path, -1, LAVAPIPE)
    assert "('vulkan', True)" in vk_backends and "('vulkan', False)" in cpu_backends
    offload = re.search(r"offloaded (\d+)/(\d+) layers to GPU", log)
    assert offload and offload.group(1) == offload.group(2), log[-3000:]
    assert "Vulkan0" in log  # the model's buffers live on the Vulkan device
    # greedy decoding: the same first tokens (floating point may change a later one)
    cpu, vk = eval(cpu_text), eval(vk_text)  # repr() of the generated strings
    assert cpu.startswith(" Paris"), cpu
    assert vk[:len(" Paris.")] == cpu[:len(" Paris.")], (cpu, vk)
