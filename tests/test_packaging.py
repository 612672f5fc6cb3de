"""Package boundaries: versions pinned together, types importable alone, typed, loader reports."""

from __future__ import annotations

import importlib.metadata as md
from pathlib import Path

import llama_cpp
import llama_cpp_core
import llama_cpp_types
from conftest import REPO, run_python


def test_one_version_and_exact_pins() -> None:
    version = llama_cpp.__version__
    assert llama_cpp_core.__version__ == llama_cpp_types.__version__ == version
    for dist in ("llama-cpp", "llama-cpp-core", "llama-cpp-types"):
        assert md.version(dist) == version
    requires = md.requires("llama-cpp") or []
    assert f"llama-cpp-core=={version}" in requires
    assert f"llama-cpp-types=={version}" in requires
    for pkg in ("llama-cpp", "llama-cpp-core", "llama-cpp-types"):
        text = (REPO / "packages" / pkg / "pyproject.toml").read_text()
        assert f'version = "{version}"' in text, pkg


def test_types_import_alone_without_numpy_or_native_code() -> None:
    r = run_python(
        """
        import sys
        import llama_cpp_types
        from llama_cpp_types import CreateChatCompletionResponse, ChatCompletionRequestMessage
        loaded = [m for m in sys.modules if m.split(".")[0] in ("numpy", "llama_cpp_core", "llama_cpp", "ctypes")]
        maps = open("/proc/self/maps").read()
        print(loaded, "libllama" in maps, "libggml" in maps)
        """
    )
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "[] False False"


def test_numpy_is_imported_on_first_use_not_with_llama_cpp(model_path: str) -> None:
    r = run_python(
        f"""
        import sys
        from llama_cpp import Llama, LogitsProcessorList, StoppingCriteriaList
        print("numpy" in sys.modules)
        llm = Llama(model_path={model_path!r}, n_ctx=64, verbose=False)
        print("numpy" in sys.modules)  # loading a model does not need it either
        llm.create_completion("Hi", max_tokens=2)
        print("numpy" in sys.modules, type(llm.input_ids).__module__)
        from llama_cpp._numpy import np
        import numpy
        print(np.ndarray is numpy.ndarray, np.intc is numpy.intc, sys.modules["numpy"] is numpy)
        """
    )
    assert r.returncode == 0, r.stderr
    assert r.stdout.split("\n")[:4] == ["False", "False", "True numpy", "True True True"]


def test_llama_types_is_the_types_package() -> None:
    assert llama_cpp.llama_types.CreateCompletionResponse is llama_cpp_types.CreateCompletionResponse
    assert llama_cpp.ChatCompletionRequestUserMessage is llama_cpp_types.ChatCompletionRequestUserMessage
    assert llama_cpp_types.Completion is llama_cpp_types.CreateCompletionResponse


def test_every_package_is_typed() -> None:
    for mod in (llama_cpp, llama_cpp_core, llama_cpp_types):
        assert (Path(mod.__file__).parent / "py.typed").is_file(), mod.__name__


def test_core_version_mismatch_says_what_to_reinstall() -> None:
    r = run_python(
        """
        import llama_cpp_core
        llama_cpp_core.__version__ = "0.0.1"
        try:
            import llama_cpp
        except ImportError as e:
            print(e)
        """
    )
    assert r.returncode == 0, r.stderr
    assert "needs llama-cpp-core" in r.stdout and "pip install 'llama-cpp-core==" in r.stdout


def test_backends_report_the_cpu_variant_and_rpc() -> None:
    backends = {b.name: b for b in llama_cpp_core.backends() if b.loaded}
    assert "cpu" in backends and "rpc" in backends
    cpu = backends["cpu"]
    assert cpu.devices and cpu.devices[0].type == "cpu"
    assert cpu.path.parent == llama_cpp_core.lib_dir()
    # every CPU library that did not load says why
    for b in llama_cpp_core.backends():
        assert b.loaded or b.error


def test_native_logs_go_through_logging(model_path: str) -> None:
    r = run_python(
        f"""
        import logging, io
        stream = io.StringIO()
        handler = logging.StreamHandler(stream)
        logging.getLogger("llama-cpp-python").addHandler(handler)
        logging.getLogger("llama-cpp-python").setLevel(logging.DEBUG)
        import llama_cpp.llama_cpp as C
        p = C.llama_model_default_params(); p.vocab_only = True
        m = C.llama_model_load_from_file({model_path!r}.encode(), p)
        C.llama_model_free(m)
        print("llama_model_loader" in stream.getvalue())
        """
    )
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "True"
    assert "llama_model_loader" not in r.stderr  # nothing written straight to the fd
