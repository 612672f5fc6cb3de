"""``llama-cpp-rpc-server``: serve this machine's ggml devices to other hosts over llama.cpp's RPC protocol.

The same server as llama.cpp's ``rpc-server`` program, started through the
RPC backend library this wheel already ships (``ggml_backend_rpc_start_server``),
so no separate build is needed. Clients connect with
``Llama(..., rpc_servers="host:port,...")``.

The protocol has no authentication or encryption: bind it to loopback or to
a private network you trust, never to an open one.
"""

from __future__ import annotations

import argparse
import ctypes
import logging
import os
import signal
import sys
import threading
from pathlib import Path

__all__ = ["main", "serve", "select_devices"]

logger = logging.getLogger("llama_cpp_core")

_START = ctypes.CFUNCTYPE(None, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_size_t, ctypes.c_size_t,
                          ctypes.POINTER(ctypes.c_void_p))


def select_devices(names: list[str] | None = None) -> list[tuple[int, str]]:
    """(ggml device handle, name) to serve: the named ones, else every GPU-type device, else the CPU."""
    from . import _bindings as b

    devices = [b.ggml_backend_dev_get(i) for i in range(b.ggml_backend_dev_count())]
    def name(dev: int) -> str:
        return (b.ggml_backend_dev_name(dev) or b"").decode()
    if names:
        by_name = {name(d): d for d in devices}
        missing = [n for n in names if n not in by_name]
        if missing:
            raise ValueError(f"unknown device(s) {missing}; available: {sorted(by_name)}")
        return [(by_name[n], n) for n in names]
    cpu_type, accel_type = 0, 3
    rpc_reg = b.ggml_backend_reg_by_name(b"RPC")
    chosen = [d for d in devices if b.ggml_backend_dev_type(d) not in (cpu_type, accel_type)
              and b.ggml_backend_dev_backend_reg(d) != rpc_reg]
    if not chosen:
        chosen = [d for d in devices if b.ggml_backend_dev_type(d) == cpu_type][:1]
    if not chosen:
        raise RuntimeError("no ggml device to serve (no CPU backend loaded)")
    return [(d, name(d)) for d in chosen]


def serve(host: str, port: int, threads: int, devices: list[str] | None = None, cache_dir: str | None = None) -> None:
    """Run the RPC server; blocks until the process is stopped."""
    from . import _bindings as b

    reg = b.ggml_backend_reg_by_name(b"RPC")
    if not reg:
        raise RuntimeError("this llama-cpp-core has no RPC backend (libggml-rpc did not load; see llama_cpp_core.backends())")
    address = b.ggml_backend_reg_get_proc_address(reg, b"ggml_backend_rpc_start_server")
    if not address:
        raise RuntimeError("the RPC backend does not export ggml_backend_rpc_start_server")
    start = _START(address)
    chosen = select_devices(devices)
    array = (ctypes.c_void_p * len(chosen))(*[d for d, _ in chosen])
    endpoint = f"{host}:{port}"
    if cache_dir:
        Path(cache_dir).mkdir(parents=True, exist_ok=True)
    logger.info("serving %s on %s", [n for _, n in chosen], endpoint)
    start(endpoint.encode(), cache_dir.encode() if cache_dir else None, threads, len(chosen), array)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="llama-cpp-rpc-server",
        description="Serve this machine's ggml devices to llama.cpp RPC clients (Llama(rpc_servers=...)). "
        "Unauthenticated and unencrypted: bind to loopback or a trusted private network only.",
    )
    parser.add_argument("-H", "--host", default="127.0.0.1", help="address to bind (default: 127.0.0.1)")
    parser.add_argument("-p", "--port", type=int, default=50052, help="port (default: 50052)")
    parser.add_argument("-t", "--threads", type=int, default=max(1, (os.cpu_count() or 2) // 2),
                        help="threads for the CPU device (default: half the cores)")
    parser.add_argument("-d", "--device", default="", help="comma-separated ggml device names (default: the GPUs, else the CPU)")
    parser.add_argument("-c", "--cache", metavar="DIR", default=None, help="cache received tensors in DIR (faster reloads)")
    parser.add_argument("--list-devices", action="store_true", help="print the devices and exit")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    if args.list_devices:
        for name, description in _all_devices():
            sys.stdout.write(f"{name}: {description}\n")
        return 0
    if not 0 < args.port < 65536:
        parser.error(f"--port {args.port} is not a TCP port")
    if args.threads < 1:
        parser.error("--threads must be at least 1")
    if args.host not in ("127.0.0.1", "localhost", "::1"):
        logger.warning("binding to %s: the RPC protocol is unauthenticated; expose it to trusted hosts only", args.host)
    names = [n.strip() for n in args.device.split(",") if n.strip()] or None
    # the server loop is C code that never returns: run it in a daemon thread so SIGINT/SIGTERM stop the process
    errors: list[BaseException] = []

    def run() -> None:
        try:
            serve(args.host, args.port, args.threads, names, args.cache)
        except BaseException as e:  # reported by the main thread
            errors.append(e)
    thread = threading.Thread(target=run, name="rpc-server", daemon=True)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    thread.start()
    try:
        while thread.is_alive():
            thread.join(0.5)
    except KeyboardInterrupt:
        return 0
    if errors:
        print(f"llama-cpp-rpc-server: {errors[0]}", file=sys.stderr)
        return 1
    return 0


def _all_devices() -> list[tuple[str, str]]:
    from . import _bindings as b

    out = []
    for i in range(b.ggml_backend_dev_count()):
        dev = b.ggml_backend_dev_get(i)
        free, total = ctypes.c_size_t(), ctypes.c_size_t()
        b.ggml_backend_dev_memory(dev, ctypes.byref(free), ctypes.byref(total))
        out.append(((b.ggml_backend_dev_name(dev) or b"").decode(),
                    f"{(b.ggml_backend_dev_description(dev) or b'').decode()} ({total.value // 2**20} MiB, {free.value // 2**20} MiB free)"))
    return out


if __name__ == "__main__":
    sys.exit(main())
