"""Compute backends: what loaded, and llama.cpp's RPC backend for models split across machines.

``backends()`` lists every ggml backend library the core found (CPU variants,
RPC, accelerator plugins such as ``llama-cpp-core-vulkan``), whether it
loaded, why not, and the devices of those that did. ``$LLAMA_CPP_BACKENDS``
(e.g. ``cpu`` or ``vulkan,cpu``), read when the libraries first load,
restricts which accelerators load.

``apply_rpc_servers("host:port,host:port")`` is what ``Llama(rpc_servers=...)``
calls: each server is checked with the RPC protocol's own handshake (with a
timeout, so a server that is down is a ``RPCServerError`` within
seconds), then registered with the RPC backend as devices that
``n_gpu_layers``, ``split_mode`` and ``tensor_split`` act on, like local GPUs.
"""

from __future__ import annotations

import ctypes
import logging
import socket
import struct
from typing import List, Optional, Tuple

from llama_cpp_core import Backend, Device, backends

__all__ = [
    "Backend",
    "Device",
    "RPCServerError",
    "apply_rpc_servers",
    "backends",
    "check_rpc_server",
    "parse_rpc_servers",
    "print_backends",
    "rpc_devices",
]

logger = logging.getLogger("llama_cpp")

RPC_TIMEOUT_S = 5.0
_RPC_CMD_HELLO = 14
_RPC_CONN_CAPS_SIZE = 24
_HELLO_RSP_SIZE = 4 + _RPC_CONN_CAPS_SIZE

# endpoint -> the ggml device handles of that server, once registered (process-wide, as in ggml)
_registered: dict = {}
_abort_hook = None


class RPCServerError(RuntimeError):
    """An RPC server named in ``rpc_servers`` cannot be used (down, unreachable, wrong protocol)."""


def parse_rpc_servers(rpc_servers: str) -> List[Tuple[str, int]]:
    """``"host:port,host:port"`` (IPv6 hosts in brackets) as (host, port) pairs; ValueError if malformed."""
    if not isinstance(rpc_servers, str):
        raise TypeError(f"rpc_servers must be a string like 'host:port,host:port', not {type(rpc_servers).__name__}")
    out = []
    for item in rpc_servers.split(","):
        item = item.strip()
        if not item:
            continue
        host, sep, port = item.rpartition(":")
        if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise ValueError(f"rpc_servers entry {item!r} is not host:port (e.g. 192.168.1.10:50052)")
        out.append((host.strip("[]"), int(port)))
    if not out:
        raise ValueError("rpc_servers is empty; give one or more host:port entries separated by commas")
    return out


def check_rpc_server(host: str, port: int, timeout: float = RPC_TIMEOUT_S) -> Tuple[int, int, int]:
    """Connect and run the RPC HELLO handshake; returns the server's protocol version.

    Raises ``RPCServerError`` when the server is down, does not answer
    within ``timeout`` seconds or speaks another protocol version. ggml itself
    would abort the process in those cases, so this runs before it connects.
    """
    from llama_cpp_core import bindings as b

    major_expected = int(getattr(b, "RPC_PROTO_MAJOR_VERSION", 7))
    minor_expected = int(getattr(b, "RPC_PROTO_MINOR_VERSION", 0))
    where = f"{host}:{port}"
    try:
        with socket.create_connection((host, port), timeout=timeout) as sock:
            sock.settimeout(timeout)
            sock.sendall(bytes([_RPC_CMD_HELLO]) + struct.pack("<Q", _RPC_CONN_CAPS_SIZE) + bytes(_RPC_CONN_CAPS_SIZE))
            data = b""
            while len(data) < 8 + _HELLO_RSP_SIZE:
                chunk = sock.recv(8 + _HELLO_RSP_SIZE - len(data))
                if not chunk:
                    break
                data += chunk
    except socket.timeout:
        raise RPCServerError(f"RPC server {where} did not answer within {timeout:g} s") from None
    except OSError as e:
        raise RPCServerError(f"cannot connect to RPC server {where}: {e.strerror or e}") from None
    if len(data) < 8 + _HELLO_RSP_SIZE or struct.unpack("<Q", data[:8])[0] != _HELLO_RSP_SIZE:
        raise RPCServerError(
            f"{where} closed the connection or answered the RPC handshake with an unexpected message: "
            "is it a llama.cpp RPC server (llama-cpp-rpc-server) of a compatible version?"
        )
    major, minor, patch = data[8], data[9], data[10]
    if major != major_expected or minor > minor_expected:
        raise RPCServerError(
            f"RPC server {where} speaks protocol {major}.{minor}.{patch}; this llama-cpp-core speaks "
            f"{major_expected}.{minor_expected}: run the same llama-cpp-core version on both sides"
        )
    return major, minor, patch


def _on_abort(message: Optional[bytes]) -> None:
    # ggml aborts the process after this returns; say why in plain words first
    text = (message or b"").decode("utf-8", errors="replace").strip()
    try:
        if "RPC" in text or "rpc" in text:
            logger.critical(
                "llama.cpp's RPC client lost a server mid-computation (%s); ggml cannot recover from this "
                "and ends the process. Restart the RPC server(s) and reload the model.", text,
            )
        else:
            logger.critical("llama.cpp aborted: %s", text)
    except Exception:  # never raise into C
        pass


def _install_abort_hook() -> None:
    global _abort_hook
    if _abort_hook is not None:
        return
    from llama_cpp_core import bindings as b

    _abort_hook = b.ggml_abort_callback_t(_on_abort)
    b.ggml_set_abort_callback(_abort_hook)
    # No Python callback can run once the interpreter is finalising: a native thread that tries is
    # stopped for good. ggml's RPC dispatcher thread logs (and may abort) while a model on a server
    # that has gone away is freed at exit; had it been stopped, the freeing thread would wait for it
    # forever. So at exit, RPC-using processes hand logging and aborts back to ggml's own defaults.
    import atexit

    atexit.register(_native_defaults_at_exit)


def _native_defaults_at_exit() -> None:
    from llama_cpp_core import bindings as b

    b.ggml_set_abort_callback(b.ggml_abort_callback_t())
    b.ggml_log_set(b.ggml_log_callback(), None)
    b.llama_log_set(b.ggml_log_callback(), None)


def rpc_devices(endpoint: str) -> list:
    """The ggml device handles registered for one RPC endpoint (empty if not registered)."""
    return list(_registered.get(endpoint, ()))


def apply_rpc_servers(rpc_servers: Optional[str]) -> Optional[ctypes.Array]:
    """Register the RPC servers of ``Llama(rpc_servers=...)`` as ggml devices.

    ``None`` or ``""``: nothing to do, returns None. Otherwise each server is
    checked (``check_rpc_server``) and registered once per process; returns
    a NULL-terminated ``ggml_backend_dev_t`` array of these servers' devices
    followed by the local GPUs, for ``llama_model_params.devices`` (llama.cpp's
    own default order: RPC devices first). Registration alone already makes
    llama.cpp's default device list include them.
    """
    if rpc_servers is None or rpc_servers == "":
        return None
    servers = parse_rpc_servers(rpc_servers)
    from llama_cpp_core import bindings as b

    reg = b.ggml_backend_reg_by_name(b"RPC")
    if not reg:
        raise RPCServerError(
            "rpc_servers needs llama.cpp's RPC backend, which did not load (see llama_cpp.backends())"
        )
    add_address = b.ggml_backend_reg_get_proc_address(reg, b"ggml_backend_rpc_add_server")
    if not add_address:
        raise RPCServerError("the RPC backend does not export ggml_backend_rpc_add_server")
    add_server = ctypes.CFUNCTYPE(ctypes.c_void_p, ctypes.c_char_p)(add_address)
    _install_abort_hook()
    chosen = []
    for host, port in servers:
        endpoint = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
        if endpoint not in _registered:
            check_rpc_server(host, port)
            server_reg = add_server(endpoint.encode())
            if not server_reg:
                raise RPCServerError(f"RPC server {endpoint} reports no devices")
            b.ggml_backend_register(server_reg)
            n = b.ggml_backend_reg_dev_count(server_reg)
            _registered[endpoint] = [b.ggml_backend_reg_dev_get(server_reg, i) for i in range(n)]
            logger.info("RPC server %s: %d device(s) registered", endpoint, n)
        chosen += _registered[endpoint]
    gpu_type = 1
    rpc_devs = {d for devs in _registered.values() for d in devs}
    for i in range(b.ggml_backend_dev_count()):
        dev = b.ggml_backend_dev_get(i)
        if b.ggml_backend_dev_type(dev) == gpu_type and dev not in rpc_devs:
            chosen.append(dev)
    return (ctypes.c_void_p * (len(chosen) + 1))(*chosen, None)


def _mib(n: int) -> str:
    return f"{n / 2**20:,.0f} MiB"


def print_backends(as_json: bool = False) -> int:
    """``python -m llama_cpp backends``: one line per backend library, its devices beneath."""
    import json
    import os
    import sys

    found = backends()
    if as_json:
        rows = [
            {"name": b.name, "variant": b.variant, "plugin": b.plugin, "path": str(b.path), "loaded": b.loaded,
             "score": b.score, "error": b.error,
             "devices": [{"name": d.name, "description": d.description, "type": d.type,
                          "memory_free": d.memory_free, "memory_total": d.memory_total} for d in b.devices]}
            for b in found
        ]
        sys.stdout.write(json.dumps({"LLAMA_CPP_BACKENDS": os.environ.get("LLAMA_CPP_BACKENDS"), "backends": rows},
                                    indent=2) + "\n")
        return 0
    selection = os.environ.get("LLAMA_CPP_BACKENDS")
    lines = [f"LLAMA_CPP_BACKENDS={selection}" if selection else "LLAMA_CPP_BACKENDS unset: the best accelerator that has a device"]
    for b in found:
        label = b.name + (f" ({b.variant})" if b.variant else "")
        origin = f"plugin {b.plugin}" if b.plugin else "core"
        state = "loaded" if b.loaded and not b.error else ("loaded, no device" if b.loaded else "skipped")
        lines.append(f"{label:<22} {state:<18} {origin:<16} {b.path}")
        if b.error:
            lines.append(f"    why: {b.error}")
        for d in b.devices:
            lines.append(f"    {d.name}: {d.description} [{d.type}] {_mib(d.memory_total)} total, {_mib(d.memory_free)} free")
    sys.stdout.write("\n".join(lines) + "\n")
    return 0
