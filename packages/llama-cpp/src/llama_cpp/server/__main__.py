"""``python -m llama_cpp.server --model model.gguf``: run the OpenAI-compatible server."""

from __future__ import annotations

import importlib
import logging
import os
import sys
from typing import Any, List, Optional

__all__ = ["main"]

_NEEDED = ("fastapi", "uvicorn", "pydantic_settings", "yaml")


def _missing_extra() -> Optional[str]:
    missing = []
    for name in _NEEDED:
        try:
            importlib.import_module(name)
        except ImportError:
            missing.append(name)
    return ", ".join(missing) or None


def main(argv: Optional[List[str]] = None) -> int:
    missing = _missing_extra()
    if missing:
        sys.stderr.write(f"llama_cpp.server needs the server extra ({missing} missing): "
                         "pip install 'llama-cpp[server]'\n")
        return 1

    import uvicorn
    from pydantic import ValidationError

    from .app import begin_shutdown, create_app
    from .cli import build_parser, settings_from_argv
    from .middleware import RequestIdFilter

    try:
        server_settings, model_settings = settings_from_argv(argv)
    except (ValidationError, ValueError, OSError) as exc:
        sys.stderr.write(f"error: {exc}\n\n")
        build_parser().print_help(sys.stderr)
        return 1

    handler = logging.StreamHandler()
    handler.addFilter(RequestIdFilter())
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s [%(request_id)s] %(name)s: %(message)s"))
    server_logger = logging.getLogger("llama_cpp.server")
    server_logger.addHandler(handler)
    server_logger.setLevel(logging.INFO)
    server_logger.propagate = False

    app = create_app(server_settings=server_settings, model_settings=model_settings)

    class _Server(uvicorn.Server):
        def handle_exit(self, sig: int, frame: Any) -> None:
            begin_shutdown(app)
            super().handle_exit(sig, frame)

    config = uvicorn.Config(
        app,
        host=os.getenv("HOST", server_settings.host),
        port=int(os.getenv("PORT", server_settings.port)),
        ssl_keyfile=server_settings.ssl_keyfile,
        ssl_certfile=server_settings.ssl_certfile,
        access_log=False,
        timeout_graceful_shutdown=int(server_settings.shutdown_timeout) + 5,
        log_level="info",
    )
    _Server(config).run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
