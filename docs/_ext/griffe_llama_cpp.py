"""Griffe extension: lets mkdocstrings see the names ``llama_cpp`` provides at run time.

Static analysis reads the sources, but two kinds of public names only exist once the
installed packages are imported:

* ``llama_cpp.llama_cpp`` re-exports the ctypes bindings that ``llama-cpp-core``
  generates at build time (``llama_cpp_core._bindings``). Every ``llama_*`` function
  is a ctypes function whose docstring (its header comment and C declaration) is set
  when it is bound, so this extension imports the module and takes the functions from
  it (dynamic inspection); records, enums and constants are taken from a static
  reading of the generated module, where their docstrings are written.
* ``llama_cpp`` provides a few names lazily (module ``__getattr__``), e.g.
  ``LlamaGrammar``: they become aliases of the objects they resolve to.

It only adds members that static analysis did not find; it changes nothing else.
Docs tooling only (referenced from mkdocs.yml); never imported by the packages.
"""

from __future__ import annotations

import importlib
from typing import Any

import griffe

LOW_LEVEL = "llama_cpp.llama_cpp"
GENERATED = "llama_cpp_core._bindings"


class LlamaCppRuntimeNames(griffe.Extension):
    """Add the run-time-only public names of ``llama_cpp`` and ``llama_cpp.llama_cpp``."""

    def on_module_members(self, *, mod: griffe.Module, agent: Any, **kwargs: Any) -> None:
        if mod.path == LOW_LEVEL:
            self._low_level(mod, agent)
        elif mod.path == "llama_cpp":
            self._lazy_names(mod)

    @staticmethod
    def _lazy_names(mod: griffe.Module) -> None:
        """Alias each public class or function of ``llama_cpp`` that static analysis missed
        (provided by the module's ``__getattr__``) to where it is defined in the package."""
        runtime = importlib.import_module("llama_cpp")
        for name in runtime.__all__:
            if name in mod.members:
                continue
            obj = getattr(runtime, name, None)
            where = getattr(obj, "__module__", None) or ""
            if (isinstance(obj, type) or callable(obj)) and where.startswith("llama_cpp.") and hasattr(obj, "__qualname__"):
                mod.set_member(name, griffe.Alias(name, f"{where}.{obj.__qualname__}"))

    @staticmethod
    def _low_level(mod: griffe.Module, agent: Any) -> None:
        runtime = importlib.import_module(LOW_LEVEL)
        generated = importlib.import_module(GENERATED)
        parser, options = agent.docstring_parser, agent.docstring_options
        static = griffe.load(GENERATED, docstring_parser=parser, docstring_options=options, resolve_aliases=False)
        for name in runtime.__all__:
            if name in mod.members:
                continue
            obj = getattr(runtime, name)
            if name in generated.FUNCTIONS and callable(obj):
                argnames = generated.FUNCTIONS[name][2]
                member: griffe.Object = griffe.Function(
                    name,
                    parameters=griffe.Parameters(
                        *(griffe.Parameter(arg, kind=griffe.ParameterKind.positional_only) for arg in argnames)
                    ),
                    docstring=griffe.Docstring(obj.__doc__ or "", parser=parser, parser_options=options)
                    if obj.__doc__ else None,
                )
                member.labels.add("ctypes function")
            elif name in static.members and not static.members[name].is_alias:
                member = static.members[name]
                static.del_member(name)
            else:
                member = griffe.Attribute(name, value=repr(obj))
            mod.set_member(name, member)
