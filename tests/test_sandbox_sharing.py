"""One warm sandbox process shared by the local grading workers of ``course autograde``."""

from __future__ import annotations

import os
import socket
import sys

import pytest

from autograder.sandbox.limits import Limits
from autograder.sandbox.runner import Zygote, hidden_paths, make_workdir

from .conftest import ROOT

LIMITS = Limits(memory_mb=2048, notebook_timeout=60, max_processes=16)
pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="the sandbox runs on Linux")


def run(zygote: Zygote, code: str) -> str:
    session = zygote.spawn(make_workdir({}), LIMITS)
    try:
        out = session.run(code, timeout=30)
        assert out.status == "ok", out.detail
        return "".join(o.get("text", "") for o in out.outputs if o["output_type"] == "stream")
    finally:
        session.close()


@pytest.fixture()
def shared():
    z = Zygote(hide=hidden_paths(ROOT), plots="none", warm_up=False, share=True)
    z.start()
    yield z
    z.close()


def test_clients_use_the_shared_process_and_start_none_of_their_own(shared):
    assert shared.address and os.path.exists(shared.address)
    assert oct(os.stat(os.path.dirname(shared.address)).st_mode & 0o777) == "0o700"
    clients = [Zygote(hide=hidden_paths(ROOT), plots="none", address=shared.address) for _ in range(2)]
    try:
        for i, client in enumerate(clients):
            assert run(client, f"print(6 * 7 + {i})") == f"{42 + i}\n"
            assert client._proc is None  # no process of its own
        assert run(clients[0], "print('again')") == "again\n"  # the same connection serves the next notebook
    finally:
        for client in clients:
            client.close()
    assert shared.running  # clients leaving does not stop it


def test_a_client_whose_shared_process_is_gone_starts_its_own(shared):
    client = Zygote(hide=hidden_paths(ROOT), plots="none", warm_up=False, address=shared.address)
    try:
        assert run(client, "print(1)") == "1\n" and client._proc is None
        shared.close()  # e.g. killed by the machine's OOM killer
        assert run(client, "print(2)") == "2\n"
        assert client._proc is not None and client.running  # its own now
    finally:
        client.close()
    lost = Zygote(hide=hidden_paths(ROOT), plots="none", warm_up=False, address="/nonexistent/zygote.sock")
    try:
        assert run(lost, "print(3)") == "3\n" and lost._proc is not None
    finally:
        lost.close()


@pytest.mark.skipif(not hasattr(os, "getuid") or os.getuid() != 0, reason="needs root to act as another user")
def test_the_shared_process_answers_its_own_user_only(shared):
    os.chmod(os.path.dirname(shared.address), 0o755)  # past the folder's own protection, to test the socket's
    os.chmod(shared.address, 0o777)
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # another user asks for a student process
        try:
            os.close(read)
            os.setgid(65534)
            os.setuid(65534)
            s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
            s.connect(shared.address)
            s.settimeout(20)
            reply = s.recv(1 << 16)
            os.write(write, b"refused" if reply == b"" else b"answered")
        except BaseException as exc:  # noqa: BLE001
            os.write(write, f"error {exc}".encode())
        finally:
            os._exit(0)
    os.close(write)
    os.waitpid(pid, 0)
    with os.fdopen(read, "rb") as r:
        assert r.read() == b"refused"
    client = Zygote(hide=hidden_paths(ROOT), plots="none", address=shared.address)  # its own user still served
    try:
        assert run(client, "print('ok')") == "ok\n" and client._proc is None
    finally:
        client.close()


def _collapse_supported() -> bool:
    try:
        with open("/sys/kernel/mm/transparent_hugepage/enabled") as fh:
            if "[never]" in fh.read():
                return False
    except OSError:
        return False
    return tuple(int(x) for x in os.uname().release.split(".")[:2] if x.isdigit()) >= (6, 1)


@pytest.mark.skipif(not _collapse_supported(), reason="needs transparent huge pages and MADV_COLLAPSE (Linux 6.1+)")
def test_the_warm_process_keeps_its_libraries_in_huge_pages_and_its_students_still_run(shared):
    """Every student process and every copy of one is a fork of the warm process: with
    its Python objects in 2 MiB pages, those forks copy far fewer page-table entries
    (see kernel.huge_pages_for_heap).  A student writing to that memory still works."""
    assert run(shared, "print('ready')").strip() == "ready"  # waits until the process is warm
    with open(f"/proc/{shared._proc.pid}/smaps_rollup") as fh:
        fields = dict(line.split(":", 1) for line in fh.read().splitlines()[1:])
    assert int(fields["AnonHugePages"].split()[0]) >= 16 * 1024  # kB: at least 8 huge pages
    out = run(shared, "import numpy as np, matplotlib.pyplot as plt\n"
                      "np.set_printoptions(precision=2); fig, ax = plt.subplots(); ax.plot([1, 2])\n"
                      "print(np.arange(3.0) / 3)")
    assert out.strip() == "[0.   0.33 0.67]"
