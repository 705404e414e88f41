"""The trusted side of the sandbox: start a submission's runner, and call into it safely.

:class:`Sandbox` starts :mod:`autograder.runner` under ``unshare`` with new mount, network and PID
namespaces (so the network is gone, the course and the gradebook are hidden, and every process
the student starts dies with the runner), as an unprivileged uid with resource limits. The grader
then calls the student's functions through :class:`Remote` proxies: arguments and results cross
the pipe as plain tensors and numbers (``torch.load(weights_only=True)`` refuses anything else),
so no object of the student's ever exists in the grader's process.
"""
from __future__ import annotations

import ctypes
import io
import itertools
import json
import os
import select
import shutil
import signal
import struct
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch

RUNNER = Path(__file__).resolve().parent / "runner.py"
_serial = itertools.count()
MAX_FRAME = 256 * 2**20


@dataclass
class Limits:
    """What one submission may use."""
    wall_s: float = 120.0        # whole submission: cells and every test call
    cell_s: float = 30.0         # one cell (an endless loop costs that cell, not the notebook)
    call_s: float = 10.0         # one call of the student's code by a hidden test
    cpu_s: int = 120             # CPU seconds (RLIMIT_CPU)
    memory_mb: int = 6144        # address space (RLIMIT_AS); torch alone maps ~1.5 GB
    processes: int = 64          # RLIMIT_NPROC for the sandbox uid
    file_mb: int = 64            # largest file it may write (RLIMIT_FSIZE)
    tmp_mb: int = 128            # size of its private /tmp
    open_files: int = 256

    def __post_init__(self):
        # each part gets a share of the whole, so one endless loop leaves time for the rest
        self.cell_s = min(self.cell_s, self.wall_s / 2)
        self.call_s = min(self.call_s, self.wall_s / 4)

    def rlimits(self) -> dict:
        return {"RLIMIT_CPU": self.cpu_s, "RLIMIT_AS": self.memory_mb * 2**20,
                "RLIMIT_NPROC": self.processes, "RLIMIT_FSIZE": self.file_mb * 2**20,
                "RLIMIT_NOFILE": self.open_files, "RLIMIT_CORE": 0}


class ControlGroup:
    """One cgroup per sandbox: its processes share one memory limit and one process limit, and
    the sandbox as a whole gets the same CPU weight as any other, however many processes (or
    sessions) it makes. cgroup v2 or v1; where neither can be written, rlimits remain."""

    V2 = Path("/sys/fs/cgroup")

    STALE_S = 600   # an empty group older than this was left behind by a grader that is gone

    def __init__(self, name: str, memory_mb: int, processes: int):
        self.dirs: list[Path] = []
        self._sweep()
        try:
            if (self.V2 / "cgroup.controllers").exists():
                base = self.V2 / "tlcourse"
                base.mkdir(exist_ok=True)
                (self.V2 / "cgroup.subtree_control").write_text("+cpu +memory +pids")
                (base / "cgroup.subtree_control").write_text("+cpu +memory +pids")
                d = base / name
                d.mkdir()
                self.dirs = [d]
                (d / "memory.max").write_text(str(memory_mb * 2**20))
                (d / "pids.max").write_text(str(processes))
            else:
                settings = {"memory": {"memory.limit_in_bytes": str(memory_mb * 2**20)},
                            "pids": {"pids.max": str(processes)},
                            "cpu": {"cpu.shares": "1024"}}
                for controller, values in settings.items():
                    d = self.V2 / controller / "tlcourse" / name
                    d.mkdir(parents=True)
                    self.dirs.append(d)
                    for key, value in values.items():
                        (d / key).write_text(value)
        except OSError:
            self.remove()
            self.dirs = []

    @classmethod
    def _sweep(cls) -> None:
        """Remove the empty groups of sandboxes whose grader died before removing them."""
        bases = [cls.V2 / "tlcourse"] + [cls.V2 / c / "tlcourse" for c in ("memory", "pids", "cpu")]
        now = time.time()
        for base in bases:
            try:
                stale = [d for d in base.iterdir() if d.is_dir() and d.name.startswith("sandbox-")
                         and now - d.stat().st_mtime > cls.STALE_S]
            except OSError:
                continue
            for d in stale:
                try:
                    d.rmdir()           # fails, harmlessly, while a process is still inside
                except OSError:
                    pass

    def join(self) -> None:
        """Move the calling process in (from ``preexec_fn``, before exec)."""
        for d in self.dirs:
            with open(d / "cgroup.procs", "w") as f:
                f.write(str(os.getpid()))

    def remove(self) -> None:
        for d in self.dirs:
            try:
                d.rmdir()
            except OSError:
                pass


class SandboxError(RuntimeError):
    """The submission's process died, hung, or broke the protocol."""


class StudentError(Exception):
    """The student's code raised; the message is theirs (type, text, line)."""


def isolation_available() -> tuple[bool, str]:
    """Whether namespaces can be used here (root and util-linux's ``unshare``), and why not."""
    if shutil.which("unshare") is None:
        return False, "the `unshare` program (util-linux) is not installed"
    if os.geteuid() != 0:
        return False, "grading in a sandbox needs root (namespaces, mounts, a separate uid)"
    probe = subprocess.run(["unshare", "--net", "--mount", "--pid", "--fork", "true"],
                           capture_output=True, text=True)
    if probe.returncode != 0:
        return False, f"namespaces are not permitted here: {probe.stderr.strip()}"
    return True, ""


@dataclass
class Sandbox:
    cells: list[dict]                      # [{"id", "source"}] run in order
    hide: list[str] = field(default_factory=list)
    limits: Limits = field(default_factory=Limits)
    uid: int = 0                           # 0: keep the grader's uid (no isolation)
    isolate: bool = True

    def __post_init__(self):
        self.proc = None
        self.deadline = None
        self.ready = None

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> dict:
        """Start the runner and run the cells; return ``{"cells": [...], "names": {...}}``."""
        keep = [sys.base_prefix, sys.prefix, str(Path(__file__).resolve().parent.parent / "tlcourse")]
        job = {"cells": self.cells, "isolate": self.isolate, "hide": self.hide, "keep": keep,
               "tmp_mb": self.limits.tmp_mb, "uid": self.uid, "rlimits": self.limits.rlimits(),
               "cell_s": self.limits.cell_s, "call_s": self.limits.call_s}
        cmd = [sys.executable, "-I", str(RUNNER)]  # -I: ignore PYTHON* variables, user site
        if self.isolate:
            cmd = ["unshare", "--net", "--mount", "--pid", "--ipc", "--uts", "--fork",
                   "--mount-proc", "--kill-child", "--"] + cmd
        env = {"PATH": "/usr/bin:/bin", "HOME": "/tmp/work", "HF_HUB_OFFLINE": "1",
               "TRANSFORMERS_OFFLINE": "1", "OMP_NUM_THREADS": "1", "MPLBACKEND": "Agg",
               "PYTHONDONTWRITEBYTECODE": "1", "LANG": "C.UTF-8"}
        self.deadline = time.monotonic() + self.limits.wall_s
        # A name never used before: a group a killed grader left behind (or one the kernel had
        # not emptied yet) must not collide with a new sandbox whose grader got the same pid.
        name = f"sandbox-{os.getpid()}-{next(_serial)}-{os.urandom(4).hex()}"
        self.cgroup = ControlGroup(name, self.limits.memory_mb,
                                   self.limits.processes) if self.isolate else None

        def before_exec():
            _die_with_parent()
            if self.cgroup is not None:
                self.cgroup.join()

        self.proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.DEVNULL, env=env, start_new_session=True,
                                     preexec_fn=before_exec)
        payload = json.dumps(job).encode()
        try:
            self.proc.stdin.write(struct.pack(">Q", len(payload)) + payload)
            self.proc.stdin.flush()
        except BrokenPipeError:
            pass
        self.ready = self._receive()
        return self.ready

    def close(self) -> None:
        if self.proc is None:
            return
        if self.proc.poll() is None:
            try:  # the whole process group: unshare, the runner (PID 1 of its namespace), children
                os.killpg(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        if self.isolate and self.uid:
            # The runner may have left the group (setpgid): every process of this sandbox's own
            # uid goes, which is exactly the sandbox (the uid is used by no one else).
            subprocess.run(["setpriv", f"--reuid={self.uid}", f"--regid={self.uid}",
                            "--clear-groups", "kill", "-KILL", "-1"],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.proc.wait()
        if getattr(self, "cgroup", None) is not None:
            for _ in range(50):          # the kernel empties the group a moment after the kill
                self.cgroup.remove()
                if not any(d.exists() for d in self.cgroup.dirs):
                    break
                time.sleep(0.02)
        for f in (self.proc.stdin, self.proc.stdout):
            try:
                f.close()
            except OSError:
                pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # ------------------------------------------------------------------ protocol
    def _read(self, n: int) -> bytes:
        fd = self.proc.stdout.fileno()
        chunks = []
        while n:
            left = self.deadline - time.monotonic()
            if left <= 0:
                self.close()
                raise SandboxError(f"time limit: the submission ran longer than "
                                   f"{self.limits.wall_s:g} s in all")
            ready, _, _ = select.select([fd], [], [], left)
            if not ready:
                continue
            chunk = os.read(fd, min(n, 1 << 20))
            if not chunk:
                code = self.proc.wait()
                raise SandboxError(_death(code, self.limits))
            chunks.append(chunk)
            n -= len(chunk)
        return b"".join(chunks)

    def _receive(self) -> dict:
        (n,) = struct.unpack(">Q", self._read(8))
        if n > MAX_FRAME:
            self.close()
            raise SandboxError("protocol error: the submission sent an oversized reply")
        try:
            reply = torch.load(io.BytesIO(self._read(n)), weights_only=True)
        except SandboxError:
            raise
        except Exception:
            self.close()
            raise SandboxError("protocol error: the reply held something other than plain "
                               "values and tensors")
        if type(reply) is not dict or reply.get("ok") not in (True, False):
            self.close()
            raise SandboxError("protocol error: malformed reply")
        return reply

    def request(self, **req):
        if self.proc is None or self.proc.poll() is not None:
            raise SandboxError("the submission's process is no longer running")
        buf = io.BytesIO()
        torch.save(req, buf)
        data = buf.getvalue()
        try:
            self.proc.stdin.write(struct.pack(">Q", len(data)) + data)
            self.proc.stdin.flush()
        except (BrokenPipeError, OSError):
            raise SandboxError(_death(self.proc.wait(), self.limits))
        reply = self._receive()
        if not reply["ok"]:
            raise StudentError(str(reply.get("error", "error")))
        return _from_wire(self, reply.get("value"))

    def proxies(self) -> dict:
        """A proxy for every function and class the submission defined."""
        return {name: Remote(self, name=name, kind=kind)
                for name, kind in (self.ready or {}).get("names", {}).items()}


def _die_with_parent() -> None:
    """In the child before exec: SIGKILL it when the grader's thread dies (PR_SET_PDEATHSIG), so
    a killed grader leaves no sandbox behind; the PID namespace then takes the rest down."""
    ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL, 0, 0, 0)


def _death(code: int, limits: Limits) -> str:
    if code in (-signal.SIGXCPU, 128 + signal.SIGXCPU) or code == -signal.SIGKILL:
        return (f"the submission's process was stopped (CPU time limit {limits.cpu_s} s, "
                f"or memory limit {limits.memory_mb} MB)")
    if code in (-signal.SIGSEGV, 128 + signal.SIGSEGV):
        return "the submission's process crashed (segmentation fault)"
    return f"the submission's process exited (code {code}) before the grading was done"


def _to_wire(value):
    if isinstance(value, Remote):
        if value.ref is None:
            raise TypeError(f"{value.name} is a function or class, not a value")
        return {"__kind__": "ref", "ref": value.ref}
    if type(value) in (list, tuple):
        return type(value)(_to_wire(v) for v in value)
    if type(value) is dict:
        return {k: _to_wire(v) for k, v in value.items()}
    if isinstance(value, torch.Tensor):
        return value.detach().clone()
    return value


def _from_wire(box: Sandbox, value):
    if type(value) is dict and value.get("__kind__") == "ref":
        return Remote(box, ref=value["ref"], kind=value.get("type", "object"))
    if type(value) is dict and value.get("__kind__") == "repr":
        return value["repr"]
    if type(value) in (list, tuple):
        return type(value)(_from_wire(box, v) for v in value)
    if type(value) is dict:
        return {k: _from_wire(box, v) for k, v in value.items()}
    return value


class Remote:
    """A function, class or object that lives in the submission's process.

    Calling it sends the arguments over the pipe and returns the result as plain values and
    tensors; an object the student's code returns (a module, say) comes back as another
    ``Remote``, whose methods can be called the same way (``m.load_state_dict(sd)``, ``m(x)``).
    """

    def __init__(self, box: Sandbox, name: str | None = None, ref: int | None = None,
                 kind: str = "object", method: str | None = None):
        self._box, self.name, self.ref, self.kind, self._method = box, name, ref, kind, method

    def __call__(self, *args, **kwargs):
        req = {"op": "call", "args": _to_wire(list(args)), "kwargs": _to_wire(kwargs),
               "method": self._method}
        if self.ref is not None:
            req["ref"] = self.ref
        else:
            req["name"] = self.name
        return self._box.request(**req)

    def __getattr__(self, method: str):
        if method.startswith("__") or self.ref is None:
            raise AttributeError(method)
        return Remote(self._box, ref=self.ref, kind=self.kind, method=method)

    def __repr__(self):
        return f"<student's {self.kind} {self.name or ''}{'.' + self._method if self._method else ''}>"

    def __bool__(self):
        raise TypeError("a value from the submission cannot be used as a truth value here")

    def __eq__(self, other):
        raise TypeError("a value from the submission cannot be compared here")

    __hash__ = object.__hash__


UID_BASE, UID_RANGE = 200_000, 1_000_000
UID_LOCKS = Path("/run/lock")


def sandbox_uid(slot: int | None = None) -> int:
    """A uid that no other running sandbox on this machine has, across grader processes: a
    random one in a large unused range, claimed with an exclusive lock file (released by
    :func:`release_uid`). Process limits and the final kill-by-uid rely on it being exclusive."""
    if slot is not None:
        return UID_BASE + slot
    import secrets

    for _ in range(1000):
        uid = UID_BASE + secrets.randbelow(UID_RANGE)
        try:
            os.close(os.open(UID_LOCKS / f"tlcourse-uid-{uid}", os.O_CREAT | os.O_EXCL, 0o600))
            return uid
        except FileExistsError:
            continue
    raise SandboxError("no free sandbox uid")


def release_uid(uid: int) -> None:
    try:
        os.unlink(UID_LOCKS / f"tlcourse-uid-{uid}")
    except FileNotFoundError:
        pass
