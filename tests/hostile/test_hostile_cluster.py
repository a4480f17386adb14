"""``--scheduler`` against hostile addresses and servers (issue 18).

Every case keeps the promises of test_hostile.py (its ``check_run``): exit
code 2, exactly one ``Error:`` line and no traceback, every file
byte-identical, nothing created. The servers are real sockets on
127.0.0.1, served by a thread: one that accepts and never answers, an HTTP
server, one that sends garbage, and one whose first frame claims an
exabyte. Each must be refused within ``--scheduler-timeout``.
"""

import socket
import struct
import subprocess
import sys
import threading
import time

import pytest

pytest.importorskip("distributed")

from hostile_helpers import FAST, check_run, png  # noqa: E402

pytestmark = pytest.mark.cluster

# A Dask frame starts with the number of its parts as 8 little-endian bytes.
ANSWERS = {
    "silent": b"",
    "http": b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
    "garbage": bytes(range(256)) * 16,
    "exabyte_length_prefix": struct.pack("<Q", 2**60) + b"\0" * 64,
}

# Seconds a case may take beyond its --scheduler-timeout (a loaded machine).
SLACK = 15


class Server:
    """A TCP server on 127.0.0.1 that sends ``answer`` to each client and then holds it open."""

    def __init__(self, answer: bytes) -> None:
        self.answer = answer
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.clients: list[socket.socket] = []
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:  # closed
                return
            self.clients.append(client)
            try:
                client.sendall(self.answer)
            except OSError:  # the client gave up first
                pass

    def close(self) -> None:
        self.listener.shutdown(socket.SHUT_RDWR)  # wakes the accept() under way (Linux)
        self.listener.close()
        for client in self.clients:
            client.close()
        self.thread.join(timeout=10)


@pytest.fixture
def batch(tmp_path):
    """in/: two images and a file that is none (a batch: --scheduler takes no single image)."""
    for name in ("a.png", "b.png"):
        png(tmp_path, f"in/{name}")
    (tmp_path / "in" / "broken.png").write_bytes(b"not a png")
    return tmp_path


@pytest.mark.parametrize("kind", ANSWERS)
def test_a_server_that_is_no_dask_scheduler_is_one_usage_error_in_time(runner, batch, kind):
    server = Server(ANSWERS[kind])
    timeout = 2
    address = f"tcp://127.0.0.1:{server.port}"
    start = time.monotonic()
    try:
        result = check_run(runner, batch, ["in", "-o", "out", *FAST, "--scheduler", address,
                                           "--scheduler-timeout", str(timeout)],
                           2, words=[address])
    finally:
        server.close()
    assert time.monotonic() - start < timeout + SLACK
    # Refused on its answer, or (seen on a loaded machine, where Dask had
    # not read the answer yet) at the deadline: one line either way.
    assert ("not a Dask scheduler: its answer cannot be read" in result.stderr
            or f"cannot reach the Dask scheduler within {timeout} s" in result.stderr)


def test_a_silent_scheduler_ends_the_process_in_time(batch):
    """The abandoned connection attempt does not keep the process alive."""
    server = Server(ANSWERS["silent"])
    start = time.monotonic()
    try:
        done = subprocess.run([sys.executable, "-m", "tvrestore", "in", "-o", "out", *FAST,
                               "--scheduler", f"tcp://127.0.0.1:{server.port}",
                               "--scheduler-timeout", "1"],
                              cwd=batch, capture_output=True, text=True, timeout=60)
    finally:
        server.close()
    assert time.monotonic() - start < 1 + SLACK
    assert done.returncode == 2
    assert done.stderr.splitlines() == [
        f"Error: tcp://127.0.0.1:{server.port}: cannot reach the Dask scheduler within 1 s "
        "(--scheduler-timeout)"]
    assert sorted(path.name for path in batch.iterdir()) == ["in"]


BAD_ADDRESSES = ["http://127.0.0.1:8786", "not a url", "", "inproc://nothing", "tcp://127.0.0.1",
                 "tcp://:8786", "tcp://127.0.0.1:99999", "tcp://127.0.0.1:8786/path",
                 "tls://user@127.0.0.1:8786", "127.0.0.1:8786"]


@pytest.mark.parametrize("address", BAD_ADDRESSES)
def test_a_scheduler_address_that_is_not_tcp_or_tls_is_a_usage_error(runner, batch, address):
    check_run(runner, batch, ["in", "-o", "out", *FAST, "--scheduler", address], 2,
              words=["--scheduler", "tcp://HOST:PORT or tls://HOST:PORT"])


def test_bad_addresses_are_refused_before_dask_or_tensorflow_loads(batch):
    code = (
        "import sys\n"
        "from tvrestore.cli.app import main\n"
        "for address in sys.argv[1:]:\n"
        "    try:\n"
        "        main(['in', '-o', 'out', '--scheduler', address], prog_name='tvrestore')\n"
        "    except SystemExit as stop:\n"
        "        assert stop.code == 2, (address, stop.code)\n"
        "loaded = {m.split('.')[0] for m in sys.modules}\n"
        "print(sorted(loaded & {'dask', 'distributed', 'tensorflow'}))\n"
    )
    done = subprocess.run([sys.executable, "-c", code, *BAD_ADDRESSES], cwd=batch,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
    assert done.stderr.count("Error:") == len(BAD_ADDRESSES), done.stderr


@pytest.mark.parametrize("value", ["0", "-1", "nan", "inf", "1e9"])
def test_a_bad_scheduler_timeout_is_a_usage_error(runner, batch, value):
    check_run(runner, batch, ["in", "-o", "out", *FAST, "--scheduler", "tcp://127.0.0.1:9",
                              "--scheduler-timeout", value], 2,
              words=["--scheduler-timeout", "not a number of seconds"])
