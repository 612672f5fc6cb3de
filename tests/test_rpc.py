"""llama.cpp's RPC backend across hosts: Llama(rpc_servers=...) and the llama-cpp-rpc-server script.

Two RPC servers run in two network namespaces this test creates (ip netns, a
veth pair each, addresses in 10.231.0.0/16 that exist only inside this
machine); the client in the test's own namespace loads SmolLM2 with every
layer on them. Where namespaces cannot be created (not root, no CAP_NET_ADMIN)
the servers listen on loopback instead and the test says so with a warning.
No traffic leaves this machine either way.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import textwrap
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import pytest

SERVER_SCRIPT = Path(sys.executable).parent / "llama-cpp-rpc-server"
ENV = {**os.environ, "LLAMA_CPP_BACKENDS": "cpu"}  # the RPC devices are then the only offload targets
PROMPT = "The capital of France is"


@dataclass
class Host:
    name: str            # namespace name, or "" on loopback
    address: str
    procs: list = field(default_factory=list)

    def wrap(self, cmd: list[str]) -> list[str]:
        return ["ip", "netns", "exec", self.name, *cmd] if self.name else cmd

    def start_server(self, port: int) -> subprocess.Popen:
        cmd = self.wrap([str(SERVER_SCRIPT), "--host", self.address, "--port", str(port), "--threads", "1"])
        proc = subprocess.Popen(cmd, env=ENV, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        self.procs.append(proc)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise RuntimeError(f"RPC server exited: {proc.stdout.read() if proc.stdout else ''}")
            try:
                with socket.create_connection((self.address, port), timeout=1):
                    return proc
            except OSError:
                time.sleep(0.2)
        raise RuntimeError(f"RPC server on {self.address}:{port} did not start listening")


def _sh(*cmd: str) -> None:
    subprocess.run(cmd, check=True, capture_output=True, text=True)


def _make_namespaces(tag: str) -> list[Host] | str:
    """Two namespaces with a veth pair each to this one; a reason string if that is not possible."""
    if shutil.which("ip") is None:
        return "the ip command (iproute2) is missing"
    hosts: list[Host] = []
    try:
        for i in (1, 2):
            ns, here, there = f"llcpp{tag}{i}", f"vl{tag}{i}a", f"vl{tag}{i}b"
            _sh("ip", "netns", "add", ns)
            hosts.append(Host(ns, f"10.231.{i}.2"))
            _sh("ip", "link", "add", here, "type", "veth", "peer", "name", there)
            _sh("ip", "link", "set", there, "netns", ns)
            _sh("ip", "addr", "add", f"10.231.{i}.1/24", "dev", here)
            _sh("ip", "link", "set", here, "up")
            _sh("ip", "netns", "exec", ns, "ip", "addr", "add", f"10.231.{i}.2/24", "dev", there)
            _sh("ip", "netns", "exec", ns, "ip", "link", "set", there, "up")
            _sh("ip", "netns", "exec", ns, "ip", "link", "set", "lo", "up")
    except (subprocess.CalledProcessError, OSError) as e:
        _remove_namespaces(hosts, tag)
        detail = e.stderr.strip() if isinstance(e, subprocess.CalledProcessError) and e.stderr else str(e)
        return f"cannot create network namespaces ({detail})"
    return hosts


def _remove_namespaces(hosts: list[Host], tag: str) -> None:
    for i, host in enumerate(hosts, 1):
        subprocess.run(["ip", "netns", "del", host.name], capture_output=True)
        subprocess.run(["ip", "link", "del", f"vl{tag}{i}a"], capture_output=True)


@pytest.fixture(scope="module")
def hosts():
    assert SERVER_SCRIPT.exists(), f"the core wheel's console script is missing: {SERVER_SCRIPT}"
    tag = str(os.getpid() % 10000)
    made = _make_namespaces(tag)
    if isinstance(made, str):
        warnings.warn(f"RPC test on loopback only: {made}", stacklevel=2)
        made = [Host("", "127.0.0.1"), Host("", "127.0.0.1")]
        namespaced = False
    else:
        namespaced = True
    try:
        yield made
    finally:
        for host in made:
            for proc in host.procs:
                if proc.poll() is None:
                    proc.kill()
                proc.wait(10)
        if namespaced:
            _remove_namespaces(made, tag)


@pytest.fixture(scope="module")
def servers(hosts):
    """One RPC server in each namespace; their endpoints as rpc_servers wants them."""
    ports = (50052, 50053) if not hosts[0].name else (50052, 50052)
    for host, port in zip(hosts, ports):
        host.start_server(port)
    return ",".join(f"{h.address}:{p}" for h, p in zip(hosts, ports))


def client(code: str, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True,
                          env=ENV, timeout=timeout)


GENERATE = """
import logging, sys
logging.basicConfig(level=logging.DEBUG, stream=sys.stderr, format="%(message)s")
import llama_cpp
kw = dict(rpc_servers={servers!r}, n_gpu_layers=-1) if {servers!r} else dict(n_gpu_layers=0)
llm = llama_cpp.Llama(model_path={model!r}, n_ctx=256, verbose=True, **kw)
out = llm.create_completion({prompt!r}, max_tokens=16, temperature=0.0)
print("TEXT:" + repr(out["choices"][0]["text"]))
rpc = [b for b in llama_cpp.backends() if b.name == "rpc"][0]
print("RPC:" + repr([d.description for d in rpc.devices]))
"""


def test_model_split_across_two_hosts_matches_the_local_run(model_path: str, servers: str) -> None:
    local = client(GENERATE.format(servers="", model=model_path, prompt=PROMPT))
    assert local.returncode == 0, local.stderr[-3000:]
    remote = client(GENERATE.format(servers=servers, model=model_path, prompt=PROMPT))
    assert remote.returncode == 0, remote.stderr[-3000:]
    text = {r: next(line for line in r.stdout.splitlines() if line.startswith("TEXT:")) for r in (local, remote)}
    assert text[local].startswith("TEXT:' Paris")
    assert text[remote] == text[local]  # greedy, same CPU kernels on the servers: the same tokens
    assert f"RPC:{servers.split(',')!r}" in remote.stdout
    log = remote.stderr
    assert "offloaded 31/31 layers to GPU" in log, log[-3000:]
    # both servers hold part of the model
    for endpoint in servers.split(","):
        assert any(f"[{endpoint}]" in line and "model buffer size" in line for line in log.splitlines()), log[-3000:]


def test_server_down_is_a_clear_error_within_seconds(model_path: str, hosts) -> None:
    down = f"{hosts[0].address}:50999"  # nothing listens there
    start = time.monotonic()
    r = client(f"""
        import llama_cpp
        from llama_cpp._backends import RPCServerError
        try:
            llama_cpp.Llama(model_path={model_path!r}, rpc_servers={down!r}, n_gpu_layers=-1, verbose=False)
        except RPCServerError as e:
            assert isinstance(e, RuntimeError)
            print("ERROR:", e)
    """, timeout=60)
    assert r.returncode == 0, r.stderr[-3000:]
    assert f"ERROR: cannot connect to RPC server {down}" in r.stdout
    assert time.monotonic() - start < 20


def test_server_that_never_answers_times_out(model_path: str) -> None:
    with socket.socket() as silent:  # accepts connections (the kernel's backlog) but never replies
        silent.bind(("127.0.0.1", 0))
        silent.listen(4)
        port = silent.getsockname()[1]
        start = time.monotonic()
        r = client(f"""
            import llama_cpp
            try:
                llama_cpp.Llama(model_path={model_path!r}, rpc_servers="127.0.0.1:{port}", n_gpu_layers=-1, verbose=False)
            except RuntimeError as e:
                print("ERROR:", e)
        """, timeout=60)
        elapsed = time.monotonic() - start
    assert r.returncode == 0, r.stderr[-3000:]
    assert f"ERROR: RPC server 127.0.0.1:{port} did not answer within 5 s" in r.stdout
    assert elapsed < 20


@pytest.mark.parametrize("bad", ["", "localhost", "host:port", "10.0.0.1:70000", ",,"])
def test_malformed_rpc_servers_is_a_value_error(bad: str) -> None:
    from llama_cpp._backends import apply_rpc_servers, parse_rpc_servers

    if bad == "":
        assert apply_rpc_servers(bad) is None  # empty means no RPC, as in llama-cpp-python
        return
    with pytest.raises(ValueError, match="rpc_servers"):
        parse_rpc_servers(bad)


def test_server_script_help_and_devices() -> None:
    r = subprocess.run([str(SERVER_SCRIPT), "--help"], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0 and "--host" in r.stdout and "--threads" in r.stdout
    r = subprocess.run([str(SERVER_SCRIPT), "--list-devices"], capture_output=True, text=True, timeout=60, env=ENV)
    assert r.returncode == 0 and r.stdout.startswith("CPU: "), r.stdout + r.stderr
    r = subprocess.run([str(SERVER_SCRIPT), "--port", "0"], capture_output=True, text=True, timeout=60, env=ENV)
    assert r.returncode == 2 and "is not a TCP port" in r.stderr


def test_server_dying_mid_generation_ends_the_client_within_seconds_with_the_reason(model_path: str, hosts) -> None:
    """ggml's RPC client cannot recover from a lost server (it aborts in its dispatcher thread): the
    client process must end promptly with a message naming the cause, never hang."""
    host = hosts[1]
    port = 50061
    server = host.start_server(port)
    code = textwrap.dedent(f"""
        import sys, llama_cpp
        llm = llama_cpp.Llama(model_path={model_path!r}, rpc_servers="{host.address}:{port}", n_gpu_layers=-1,
                              n_ctx=512, verbose=False)
        for chunk in llm.create_completion("1, 2, 3, 4, 5,", max_tokens=400, temperature=0.0,
                                           stream=True):
            sys.stdout.write("TOKEN\\n")
            sys.stdout.flush()
        print("FINISHED")
    """)
    proc = subprocess.Popen([sys.executable, "-c", code], env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    try:
        assert proc.stdout is not None
        first = proc.stdout.readline()
        assert first == "TOKEN\n", proc.stderr.read() if proc.stderr else ""
        server.send_signal(signal.SIGKILL)
        server.wait(10)
        killed_at = time.monotonic()
        out, err = proc.communicate(timeout=60)
        elapsed = time.monotonic() - killed_at
    finally:
        if proc.poll() is None:
            proc.kill()
    assert "FINISHED" not in out
    assert elapsed < 30, elapsed
    assert proc.returncode != 0
    assert "RPC client lost a server mid-computation" in err, err[-3000:]


def test_server_gone_before_the_client_exits_does_not_hang_the_exit(model_path: str, hosts) -> None:
    """The model is freed at interpreter exit after its server died: the process ends, it does not hang."""
    host = hosts[1]
    port = 50062
    server = host.start_server(port)
    code = textwrap.dedent(f"""
        import os, signal, sys, llama_cpp
        llm = llama_cpp.Llama(model_path={model_path!r}, rpc_servers="{host.address}:{port}", n_gpu_layers=-1,
                              n_ctx=256, verbose=False)
        llm.create_completion("Hi", max_tokens=2)
        print("GENERATED", flush=True)
        sys.stdin.readline()  # the test kills the server now
        print("EXITING", flush=True)
    """)
    proc = subprocess.Popen([sys.executable, "-c", code], env=ENV, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None and proc.stdin is not None
        assert proc.stdout.readline() == "GENERATED\n", proc.stderr.read() if proc.stderr else ""
        server.send_signal(signal.SIGKILL)
        server.wait(10)
        start = time.monotonic()
        out, err = proc.communicate("\n", timeout=60)
        elapsed = time.monotonic() - start
    finally:
        if proc.poll() is None:
            proc.kill()
    assert "EXITING" in out
    assert elapsed < 30, elapsed
    assert "Remote RPC server crashed" in err, err[-3000:]  # ggml's own message: it ends the process
