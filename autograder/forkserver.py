"""A warm grader per assignment: one process that imported torch (and what the assignment's setup
imports) and ran the assignment's leading setup cells once (``verdict.warm_setup``: they are public,
the instructor's, and define no functions), and forks, for each submission, a *judge* that forks
the submission's *sandbox*; both start from that setup instead of running it again.

    grader thread ──request (paths, ids, limits; no secret)──▶ fork server (warm, single-threaded)
                                                                 │ fork
                                                                 ▼
                            judge (trusted, root, its own address-space limit)
                              │ fork, FIRST (before it reads the solutions or the secret)
                              ▼
                            sandbox: joins its cgroup, new session, unshare(mount, net, pid, ipc,
                            uts) and fork: PID 1 of the new namespaces isolates the file system,
                            drops to its own uid, sets rlimits, then reads the student's notebook
                            (opened before the isolation), runs the cells and serves calls
                              ▲
                              └── judge: loads the source (hidden tests) and the grading secret,
                                  runs the hidden tests against proxies, kills the sandbox, writes
                                  the result (capped, cleaned) on a pipe to the grader thread

The fork server never holds anything secret: it reads the assignment's *release* (setup cells,
visible checks, answer ids: all public) and imports modules. So a sandbox, a copy of its memory,
holds nothing that a student may not see. Each submission has its own judge process: no lock
between submissions, and whatever the student's replies make the judge decode costs that judge
its memory limit at most. Start-up per submission is a fork (milliseconds), not a Python start
and ``import torch`` (most of a second).
"""
from __future__ import annotations

import ast
import ctypes
import json
import os
import signal
import socket
import struct
import sys
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
MAX_REQUEST = 1 << 20
MAX_RESULT = 16 * 2**20

CLONE_NEWNS, CLONE_NEWUTS, CLONE_NEWIPC = 0x00020000, 0x04000000, 0x08000000
CLONE_NEWPID, CLONE_NEWNET = 0x20000000, 0x40000000
PR_SET_PDEATHSIG = 1


def _libc():
    return ctypes.CDLL(None, use_errno=True)


def die_with_parent() -> None:
    _libc().prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)


# --------------------------------------------------------------------------- the server
def _preload(release: Path) -> object:
    """Import what the assignment's setup cells import (from the release: public), and read the
    release's structure. Runs nothing else: the server stays single-threaded (safe to fork)."""
    import torch

    torch.set_num_threads(1)
    # nbformat's validator imports jsonschema, whose IRI format checks build a grammar when
    # `rfc3987_syntax` is importable: about 2 s of this server's start, for checks that
    # nbformat never runs (it validates without a format checker). Not imported here; the
    # name is released again afterwards, so an import by a submission works as usual.
    blocked = "rfc3987_syntax" not in sys.modules
    if blocked:
        sys.modules["rfc3987_syntax"] = None
    try:
        from autograder import runner, sandbox, verdict  # noqa: F401
    finally:
        if blocked and sys.modules.get("rfc3987_syntax", 0) is None:
            del sys.modules["rfc3987_syntax"]

    source = verdict.Source.load(release, public=True)
    source.guard                                        # warm: the course-code guard (integrity)
    verdict.parse_submission(release.read_bytes())      # warm: the notebook validator
    import io

    buf = io.BytesIO()                                  # warm: the frames, both ways
    torch.save({"ok": True, "value": runner.plain([torch.zeros(2, 3), 1.0, "x"])}, buf)
    sandbox.decode_frame(buf.getvalue())
    for code in source.setup.values():
        try:
            tree = ast.parse(code)
        except SyntaxError:
            continue
        for node in tree.body:
            names, attrs = [], []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                names, attrs = [node.module], [a.name for a in node.names]
            for name in names:
                try:
                    module = __import__(name, fromlist=["_"])
                    for attr in attrs:      # a lazy package (transformers) imports on access:
                        getattr(module, attr, None)   # BertModel costs seconds the first time
                except Exception:
                    pass
    verdict.warm_setup(source)     # last: nothing after it may use the random generators
    return source


def serve(sock: socket.socket, release: Path) -> None:
    source = _preload(release)
    import gc

    gc.collect()
    gc.freeze()      # forked copies never walk these objects: fewer pages copied per fork
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)      # judges are reaped by the kernel
    sock.sendall(b"R")                                 # ready
    while True:
        try:
            msg, fds, _, _ = socket.recv_fds(sock, MAX_REQUEST, 4)
        except OSError:
            return
        if not msg:
            return
        try:
            req = json.loads(msg)
        except ValueError:
            for fd in fds:
                os.close(fd)
            continue
        pid = os.fork()
        if pid == 0:
            try:
                signal.signal(signal.SIGCHLD, signal.SIG_DFL)
                sock.close()
                die_with_parent()
                os.setsid()
                _judge_main(req, fds, source)
            except BaseException:
                pass
            finally:
                os._exit(0)
        for fd in fds:
            os.close(fd)
        sock.sendall(struct.pack(">q", pid))


def main() -> None:
    sys.path.insert(0, str(ROOT))
    fd = int(sys.argv[1])
    release = Path(sys.argv[2])
    sock = socket.socket(fileno=fd)
    serve(sock, release)


# --------------------------------------------------------------------------- the judge
_marks: dict[str, float] = {}
_t0 = [0.0]


def _mark(what: str) -> None:
    _marks[what] = round(time.perf_counter() - _t0[0], 4)

def _judge_main(req: dict, fds: list[int], public) -> None:
    """One submission, in a process of its own (see the module's docstring)."""
    import resource

    from autograder import verdict
    from autograder.sandbox import ForkedSandbox, Limits, SandboxError

    result_fd, nb_fd, secret_fd = fds[0], fds[1], fds[2]
    start = _t0[0] = time.perf_counter()
    limits = Limits(**req["limits"])
    result = verdict.Result(student=req["student"], assignment=req["assignment"],
                            sha256=req.get("sha256", ""))
    box = ForkedSandbox(req, limits, nb_fd, public)
    try:
        code_fd = None
        try:
            box.spawn()          # first: the sandbox is a copy of this process as it is now
            code_fd = os.dup(nb_fd)      # the judge reads the student's code itself (integrity)
        finally:
            os.close(nb_fd)
        limit = limits.judge_mb * 2**20
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
        source = verdict.Source.load(Path(req["source"]))
        secret = os.read(secret_fd, 4096).decode()
        os.close(secret_fd)
        _mark("loaded")
        ready = box.receive_ready()
        _mark("ready")
        if "bad" in ready:
            result.status, result.error = "error", verdict.clean_text(ready["bad"], 2000)
            result.tasks = verdict.zero(source, result.error)
        else:
            result.cells = ready.get("cells", [])
            result.notes = ready.get("notes", [])
            result.answers = ready.get("answers", {})
            from autograder import integrity
            code, code_fd = integrity.read_code(code_fd, source), None
            if code is None:     # fail closed: never judge on the sandbox's word for the code
                result.status = "error"
                result.error = ("the grader could not read your notebook's code itself (is the "
                                "file too large?): clear the outputs (Kernel > Restart & Clear "
                                "Output), save and submit again")
                result.tasks = verdict.zero(source, result.error)
            else:
                result.tasks = verdict._judge(source, box, ready,
                                              seed=f"{secret}:{req['student']}", code=code)
            _mark("tests")
    except SandboxError as exc:
        result.error = str(exc)
        result.tasks = verdict.zero(verdict.Source.load(Path(req["source"])), str(exc))
    except MemoryError:
        result.status = "error"
        result.error = ("the grader ran out of memory judging this submission (its replies were "
                        f"too large for the judge's {limits.judge_mb} MB)")
        result.tasks = {}
    finally:
        box.close()
        _mark("closed")
    result.seconds = round(time.perf_counter() - start, 2)
    _mark("judged")
    if os.environ.get("TLCOURSE_TIMING"):
        with open(os.environ["TLCOURSE_TIMING"], "a") as f:
            f.write(json.dumps({"student": req["student"], **_marks}) + "\n")
    try:
        data = json.dumps(result.cleaned().to_json()).encode()
    except Exception as exc:   # never nothing: the grader thread reads this
        data = json.dumps({"student": req["student"], "assignment": req["assignment"],
                           "status": "error", "error": f"grader error: {type(exc).__name__}"}).encode()
    view = memoryview(data[:MAX_RESULT])
    while view:
        view = view[os.write(result_fd, view):]
    os.close(result_fd)


# --------------------------------------------------------------------------- the client
class ForkServer:
    """The grader's handle on a fork server (one per assignment and grader process)."""

    def __init__(self, release: Path):
        import subprocess

        parent, child = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        # the grader's environment (the judge runs the source's setup, as the grader did), one
        # thread per process; the sandbox replaces it with its own (SANDBOX_ENV)
        from tlcourse import OFFLINE_ENV

        env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
        env.update({**OFFLINE_ENV, "OMP_NUM_THREADS": "1", "MPLBACKEND": "Agg",
                    "PYTHONDONTWRITEBYTECODE": "1"})
        self.proc = subprocess.Popen(
            [sys.executable, "-I", str(Path(__file__).resolve()), str(child.fileno()), str(release)],
            pass_fds=[child.fileno()], env=env, stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        # (no PR_SET_PDEATHSIG here: it follows the thread that started the server; the server
        # ends when the grader's end of the socket closes, which the kernel does when the
        # grader dies, and its judges and sandboxes die with it)
        child.close()
        self.sock = parent
        self.lock = threading.Lock()
        self.sock.settimeout(300)
        if self.sock.recv(1) != b"R":
            raise RuntimeError("the grader's fork server did not start")
        self.sock.settimeout(60)

    def submit(self, req: dict, fds: list[int]) -> int:
        data = json.dumps(req).encode()
        with self.lock:
            socket.send_fds(self.sock, [data], fds)
            return struct.unpack(">q", self.sock.recv(8))[0]

    def alive(self) -> bool:
        return self.proc.poll() is None

    def close(self) -> None:
        try:
            self.sock.close()
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
            self.proc.wait()


_servers: dict[str, ForkServer] = {}
_servers_lock = threading.Lock()


def server_for(release: Path) -> ForkServer:
    key = str(release)
    with _servers_lock:
        s = _servers.get(key)
        if s is None or not s.alive():
            s = _servers[key] = ForkServer(release)
        return s


def close_servers() -> None:
    with _servers_lock:
        for s in _servers.values():
            try:
                s.close()
            except Exception:
                pass
        _servers.clear()


if __name__ == "__main__":
    main()
