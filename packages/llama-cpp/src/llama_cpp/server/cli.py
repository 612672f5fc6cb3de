"""Command-line flags from the settings models: ``--<field>`` for every field, values parsed by type.

Booleans take ``1/on/t/true/y/yes`` or ``0/off/f/false/n/no`` (a bare flag means
true), lists take several values (``--tensor_split 0.5 0.5``), dicts a JSON
object, and ``--api_key`` may be repeated.
"""

from __future__ import annotations

import argparse
import json
import sys
import typing
from typing import Any, Dict, List, Optional, Sequence, Tuple, Type, TypeVar

from pydantic import BaseModel

__all__ = ["add_args_from_model", "parse_model_from_args", "parse_bool", "build_parser", "settings_from_argv"]

M = TypeVar("M", bound=BaseModel)
_TRUE = {"1", "on", "t", "true", "y", "yes"}
_FALSE = {"0", "off", "f", "false", "n", "no"}


def parse_bool(value: str) -> bool:
    text = str(value).strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise argparse.ArgumentTypeError(f"expected a boolean (1/on/t/true/y/yes or 0/off/f/false/n/no), not {value!r}")


def _json_object(value: str) -> Dict[str, Any]:
    try:
        parsed = json.loads(value)
    except json.JSONDecodeError as exc:
        raise argparse.ArgumentTypeError(f"expected a JSON object: {exc}") from None
    if not isinstance(parsed, dict):
        raise argparse.ArgumentTypeError("expected a JSON object")
    return parsed


def _bool_or_int(value: str) -> Any:
    try:
        return parse_bool(value)
    except argparse.ArgumentTypeError:
        return int(value)


def _strip_optional(annotation: Any) -> Tuple[Any, Tuple[Any, ...]]:
    args = tuple(a for a in typing.get_args(annotation) if a is not type(None))
    origin = typing.get_origin(annotation)
    if origin is typing.Union:
        if len(args) == 1:
            return _strip_optional(args[0])
        return typing.Union, args
    return origin or annotation, args


def add_args_from_model(parser: argparse.ArgumentParser, model: Type[BaseModel]) -> None:
    """One ``--<name>`` option per field of ``model`` (default: not given, so the environment still applies)."""
    for name, field in model.model_fields.items():
        kind, args = _strip_optional(field.annotation)
        help_text = field.description or ""
        default = field.get_default(call_default_factory=False)
        if default is not None and not callable(default) and str(default) != "PydanticUndefined":
            help_text = f"{help_text} (default: {default})".strip()
        options: Dict[str, Any] = {"dest": name, "default": None, "help": help_text}
        if kind is bool:
            options.update(type=parse_bool, nargs="?", const=True, metavar="BOOL")
        elif kind is typing.Union and set(args) == {bool, int}:
            options.update(type=_bool_or_int, metavar="BOOL_OR_INT")
        elif kind is typing.Union and str in args and any(typing.get_origin(a) is list for a in args):
            options.update(action="append", metavar="VALUE")
        elif kind in (list, List):
            item = args[0] if args else str
            options.update(nargs="*", type=item, metavar=item.__name__.upper())
        elif kind in (dict, Dict):
            options.update(type=_json_object, metavar="JSON")
        elif kind is typing.Literal:
            options.update(choices=list(args))
        elif kind in (int, float, str):
            options.update(type=kind)
        else:
            options.update(type=str)
        parser.add_argument(f"--{name}", **options)


def parse_model_from_args(model: Type[M], args: argparse.Namespace) -> M:
    """``model`` from the options that were given (the rest from the environment and defaults)."""
    given = {k: v for k, v in vars(args).items() if v is not None and k in model.model_fields}
    return model(**given)


class _Parser(argparse.ArgumentParser):
    """Bad options print the error and the help, and exit with status 1."""

    def error(self, message: str) -> typing.NoReturn:
        self.print_help(sys.stderr)
        self.exit(1, f"\n{self.prog}: error: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    from .settings import Settings

    parser = _Parser(
        prog="python -m llama_cpp.server",
        description="An OpenAI-compatible server for llama.cpp models. Every option is also an environment "
                    "variable of the same name in upper case (MODEL, N_CTX, API_KEY, ...).",
    )
    parser.add_argument("--config_file", type=str, default=None,
                        help="A JSON or YAML file with server settings and 'models: [...]' (env CONFIG_FILE).")
    add_args_from_model(parser, Settings)
    return parser


def settings_from_argv(argv: Optional[Sequence[str]] = None) -> Tuple[Any, List[Any]]:
    """``(server_settings, model_settings_list)`` from the command line, environment and config file."""
    from .settings import ServerSettings, Settings, config_file_from_env, load_config_file

    parser = build_parser()
    args = parser.parse_args(argv)
    config_file = args.config_file or config_file_from_env()
    if config_file:
        config = load_config_file(config_file)
        server_values = config.model_dump(exclude={"models"})
        server_values.update({k: v for k, v in vars(args).items() if v is not None and k in ServerSettings.model_fields})
        return ServerSettings.model_validate(server_values), list(config.models)
    settings = parse_model_from_args(Settings, args)
    from .settings import ModelSettings

    model_fields = set(ModelSettings.model_fields)
    server_fields = set(ServerSettings.model_fields)
    dumped = settings.model_dump()
    server = ServerSettings.model_validate({k: v for k, v in dumped.items() if k in server_fields})
    model = ModelSettings.model_validate({k: v for k, v in dumped.items() if k in model_fields})
    return server, [model]
