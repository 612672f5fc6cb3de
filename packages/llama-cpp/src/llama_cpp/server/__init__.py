"""An OpenAI-compatible HTTP server: ``python -m llama_cpp.server --model model.gguf``.

Needs the ``server`` extra (``pip install 'llama-cpp[server]'``). The ASGI
factory is ``llama_cpp.server.app.create_app``; the settings models are in
``llama_cpp.server.settings``. See docs/server.md.
"""

__all__ = ["app", "settings"]
