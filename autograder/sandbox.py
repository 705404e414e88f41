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

from tlcourse import OFFLINE_ENV

# Everything a submission's processes find in their environment (nothing of the grader's)
SANDBOX_ENV = {"PATH": "/usr/bin:/bin", "HOME": "/tmp/work", **OFFLINE_ENV, "OMP_NUM_THREADS": "1",
               "MPLBACKEND": "Agg", "PYTHONDONTWRITEBYTECODE": "1", "LANG": "C.UTF-8"}

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
    judge_mb: int = 8192         # the trusted judge of one submission (address space)
    allow_weak_limits: bool = False   # grade even where no cgroup can be made (rlimits only)

    def __post_init__(self):
        # each part gets a share of the whole, so one endless loop leaves time for the rest
        self.cell_s = min(self.cell_s, self.wall_s / 2)
        self.call_s = min(self.call_s, self.wall_s / 4)

    def rlimits(self) -> dict:
        return {"RLIMIT_CPU": self.cpu_s, "RLIMIT_AS": self.memory_mb * 2**20,
                "RLIMIT_NPROC": self.processes, "RLIMIT_FSIZE": self.file_mb * 2**20,
                "RLIMIT_NOFILE": self.open_files, "RLIMIT_CORE": 0}


def _v2_base(controllers: set[str]) -> Path:
    """cgroup v2: the course's folder of groups, with ``controllers`` enabled for the groups made
    in it (added to what is there, never rewritten: idempotent, and safe for concurrent graders)."""
    base = ControlGroup.V2 / "tlcourse"
    base.mkdir(exist_ok=True)
    for parent in (ControlGroup.V2, base):
        have = set((parent / "cgroup.subtree_control").read_text().split())
        if not controllers <= have:
            (parent / "cgroup.subtree_control").write_text(
                " ".join(f"+{c}" for c in sorted(controllers - have)))
    return base


class CgroupUnavailable(RuntimeError):
    """The sandbox's control group (memory, processes, CPU) could not be made."""


class ControlGroup:
    """One cgroup per sandbox: its processes share one memory limit and one process limit, and
    the sandbox as a whole gets the same CPU weight as any other, however many processes (or
    sessions) it makes. cgroup v2 or v1. Where it cannot be made, :class:`CgroupUnavailable`
    (fail closed) unless ``weak=True``: then only the per-process rlimits remain."""

    V2 = Path("/sys/fs/cgroup")

    STALE_S = 600   # an empty group older than this was left behind by a grader that is gone

    def __init__(self, name: str, memory_mb: int, processes: int, weak: bool = False):
        self.dirs: list[Path] = []
        self.usage: Path | None = None          # CPU time used, in ns (v1) or a cpu.stat (v2)
        self._sweep()
        try:
            if (self.V2 / "cgroup.controllers").exists():
                base = _v2_base({"cpu", "memory", "pids"})
                d = base / name
                d.mkdir()
                self.dirs = [d]
                (d / "memory.max").write_text(str(memory_mb * 2**20))
                (d / "memory.swap.max").exists() and (d / "memory.swap.max").write_text("0")
                (d / "pids.max").write_text(str(processes))
                self.usage = d / "cpu.stat"
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
                    if controller == "memory":   # swap counts too, where the kernel accounts it;
                        # where it does not, the group is not allowed to swap at all
                        for knob, value in (("memory.memsw.limit_in_bytes", str(memory_mb * 2**20)),
                                            ("memory.swappiness", "0")):
                            try:
                                if (d / knob).exists():
                                    (d / knob).write_text(value)
                            except OSError:
                                pass
                acct = self.V2 / "cpuacct"
                if acct.is_dir() and not (self.V2 / "cpu" / "cpuacct.usage").exists():
                    d = acct / "tlcourse" / name
                    try:
                        d.mkdir(parents=True)
                        self.dirs.append(d)
                        self.usage = d / "cpuacct.usage"
                    except OSError:
                        pass
                elif (self.dirs[-1] / "cpuacct.usage").exists():
                    self.usage = self.dirs[-1] / "cpuacct.usage"
        except OSError as exc:
            self.remove()
            self.dirs = []
            if not weak:
                raise CgroupUnavailable(
                    f"the sandbox could not get its control group (memory, processes, CPU): "
                    f"{exc.strerror or exc}; the submission was not graded (the grader can be run "
                    f"with --allow-weak-limits to grade with per-process limits only)") from None

    def cpu_ns(self) -> int | None:
        """CPU time used so far by the group's processes, in nanoseconds (None: unknown)."""
        try:
            text = self.usage.read_text() if self.usage else ""
        except OSError:
            return None
        if not text:
            return None
        if self.usage.name == "cpu.stat":
            for line in text.splitlines():
                if line.startswith("usage_usec "):
                    return int(line.split()[1]) * 1000
            return None
        return int(text.split()[0])

    def kill(self) -> None:
        """SIGKILL every process in the group."""
        for d in self.dirs:
            if (d / "cgroup.kill").exists():
                try:
                    (d / "cgroup.kill").write_text("1")
                    continue
                except OSError:
                    pass
            try:
                pids = (d / "cgroup.procs").read_text().split()
            except OSError:
                continue
            for pid in pids:
                try:
                    os.kill(int(pid), signal.SIGKILL)
                except (ProcessLookupError, ValueError):
                    pass

    @classmethod
    def _sweep(cls) -> None:
        """Remove the empty groups of sandboxes whose grader died before removing them."""
        bases = [cls.V2 / "tlcourse"] + [cls.V2 / c / "tlcourse"
                                         for c in ("memory", "pids", "cpu", "cpuacct")]
        now = time.time()
        for base in bases:
            try:
                stale = [d for d in base.iterdir() if d.is_dir()
                         and d.name.startswith(("sandbox-", BackgroundCpu.PREFIX))
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

    def remove_when_empty(self, tries: int = 250) -> None:
        # the kernel empties the group a moment after the kill; a process stuck in memory
        # reclaim (a submission at its memory limit, a loaded machine) can take seconds
        for _ in range(tries):
            self.remove()
            if not any(d.exists() for d in self.dirs):
                return
            self.kill()
            time.sleep(0.02)


class BackgroundCpu:
    """A CPU control group for the grader's own background work (the feedback pages written
    while a batch is graded), next to the sandboxes' groups and marked idle: its processes run
    only on CPU time that no sandbox wants, however many of them there are (a nice value alone
    does not do this: it only ranks processes within their own group or session). Scheduling
    only, not a limit on anything: where the group cannot be made, ``dir`` is None and the work
    runs at the lowest nice value."""

    PREFIX = "feedback-"

    def __init__(self):
        self.dir: Path | None = None
        self.knob: tuple[str, str, str] | None = None     # (file, while grading, afterwards)
        name = f"{self.PREFIX}{os.getpid()}-{os.urandom(4).hex()}"
        try:
            if (ControlGroup.V2 / "cgroup.controllers").exists():
                base = _v2_base({"cpu"})
            else:
                base = ControlGroup.V2 / "cpu" / "tlcourse"
                base.mkdir(exist_ok=True)    # never its parents: no cpu hierarchy, no group
            d = base / name
            d.mkdir()
            self.dir = d
            self.knob = next((k for k in (("cpu.idle", "1", "0"), ("cpu.weight", "1", "100"),
                                          ("cpu.shares", "2", "1024")) if (d / k[0]).exists()),
                             None)
            if self.knob is None or not (d / "cgroup.procs").exists():
                raise OSError("not a CPU control group")
            (d / self.knob[0]).write_text(self.knob[1])
        except OSError:
            self.remove()
            self.dir = self.knob = None

    def normal(self) -> None:
        """The usual CPU share from now on (nothing is being graded any more)."""
        if self.dir is not None:
            try:
                (self.dir / self.knob[0]).write_text(self.knob[2])
            except OSError:
                pass

    def remove(self) -> None:
        if self.dir is not None:
            try:
                self.dir.rmdir()          # once its processes have exited
            except OSError:
                pass


def join_cpu_group(path: str | None) -> None:
    """Move the calling process into the group at ``path`` (None, or gone: stay where it is)."""
    if path:
        try:
            with open(Path(path) / "cgroup.procs", "w") as f:
                f.write(str(os.getpid()))
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
        self._rfd = self._wfd = None
        self._callbacks: dict[int, object] = {}

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
        env = dict(SANDBOX_ENV)
        self.deadline = time.monotonic() + self.limits.wall_s
        # A name never used before: a group a killed grader left behind (or one the kernel had
        # not emptied yet) must not collide with a new sandbox whose grader got the same pid.
        name = f"sandbox-{os.getpid()}-{next(_serial)}-{os.urandom(4).hex()}"
        try:
            self.cgroup = ControlGroup(name, self.limits.memory_mb, self.limits.processes,
                                       weak=self.limits.allow_weak_limits) if self.isolate else None
        except CgroupUnavailable as exc:
            self.proc = None
            raise SandboxError(str(exc)) from None

        def before_exec():
            _die_with_parent()
            if self.cgroup is not None:
                self.cgroup.join()

        self.proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.DEVNULL, env=env, start_new_session=True,
                                     preexec_fn=before_exec)
        self._rfd, self._wfd = self.proc.stdout.fileno(), self.proc.stdin.fileno()
        os.set_blocking(self._wfd, False)
        payload = json.dumps(job).encode()
        try:
            self._write(struct.pack(">Q", len(payload)) + payload)
        except SandboxError:
            raise
        except OSError:
            pass
        self.ready = self._receive()
        return self.ready

    def _alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def _exit_code(self) -> int:
        return self.proc.wait()

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
            self.cgroup.kill()
            self.cgroup.remove_when_empty()
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
    def _time_limit(self) -> SandboxError:
        self.close()
        return SandboxError(f"time limit: the submission ran longer than "
                            f"{self.limits.wall_s:g} s in all")

    def _read(self, n: int) -> bytes:
        """``n`` bytes from the submission, by the deadline."""
        fd = self._rfd
        chunks = []
        while n:
            left = self.deadline - time.monotonic()
            if left <= 0:
                raise self._time_limit()
            ready, _, _ = select.select([fd], [], [], left)
            if not ready:
                continue
            chunk = os.read(fd, min(n, 1 << 20))
            if not chunk:
                raise SandboxError(_death(self._exit_code(), self.limits))
            chunks.append(chunk)
            n -= len(chunk)
        return b"".join(chunks)

    def _write(self, data: bytes) -> None:
        """All of ``data`` to the submission, by the deadline: a submission that stops reading
        its pipe cannot hold the grader (the descriptor is non-blocking)."""
        view = memoryview(data)
        while view:
            left = self.deadline - time.monotonic()
            if left <= 0:
                raise self._time_limit()
            _, ready, _ = select.select([], [self._wfd], [], min(left, 1.0))
            if not ready:
                continue
            try:
                view = view[os.write(self._wfd, view):]
            except BlockingIOError:
                continue
            except (BrokenPipeError, OSError):
                raise SandboxError(_death(self._exit_code(), self.limits)) from None

    def _receive(self) -> dict:
        (n,) = struct.unpack(">Q", self._read(8))
        if n > MAX_FRAME:
            self.close()
            raise SandboxError("protocol error: the submission sent an oversized reply")
        try:
            reply = decode_frame(self._read(n))
        except SandboxError:
            raise
        except FrameError as exc:
            self.close()
            raise SandboxError(f"protocol error: {exc}") from None
        except Exception:
            self.close()
            raise SandboxError("protocol error: the reply held something other than plain "
                               "values and tensors")
        if type(reply) is not dict or reply.get("ok") not in (True, False):
            self.close()
            raise SandboxError("protocol error: malformed reply")
        return reply

    def request(self, **req):
        if not self._alive():
            raise SandboxError("the submission's process is no longer running")
        buf = io.BytesIO()
        torch.save(req, buf)
        data = buf.getvalue()
        self._write(struct.pack(">Q", len(data)) + data)
        reply = self._receive()
        while "callback" in reply:            # the student's code calls a grader's object
            self._callback(reply)
            reply = self._receive()
        if not reply["ok"]:
            raise StudentError(_text(reply.get("error", "error")))
        return _from_wire(self, reply.get("value"), budget=[MAX_NODES])

    def _callback(self, req: dict) -> None:
        """Run a public method of a grader's object (:func:`_to_wire` registered it) with plain
        values; its result goes back as plain values. Nothing of the student's is called here."""
        out = {"op": "callback-result", "ok": True}
        try:
            obj = self._callbacks[int(req["callback"])]
            method = req.get("method")
            if method is not None and (type(method) is not str or method.startswith("_")):
                raise AttributeError("only public methods of the grader's object can be called")
            fn = obj if method is None else getattr(obj, method)
            if not callable(fn):
                raise TypeError(f"{method} is not a method")
            args = _from_wire(self, req.get("args", []), budget=[MAX_NODES])
            kwargs = _from_wire(self, req.get("kwargs", {}), budget=[MAX_NODES])
            if type(kwargs) is not dict or not all(type(k) is str for k in kwargs) or \
                    _holds_remote(args) or _holds_remote(kwargs):
                raise TypeError("the grader's object takes tensors and plain values only")
            with torch.set_grad_enabled(bool(req.get("grad", True))):
                value = fn(*args, **kwargs)
            if not isinstance(value, (torch.Tensor, int, float, str, bool, type(None), list,
                                      tuple, dict)):
                value = list(value) if hasattr(value, "__iter__") and not isinstance(
                    value, torch.nn.Module) else None
            out["value"] = _to_wire(value, plain_only=True)
        except SandboxError:
            raise
        except Exception as exc:
            out = {"op": "callback-result", "ok": False, "error": f"{type(exc).__name__}: {exc}"[:500]}
        buf = io.BytesIO()
        torch.save(out, buf)
        data = buf.getvalue()
        self._write(struct.pack(">Q", len(data)) + data)

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


def _holds_remote(value) -> bool:
    if isinstance(value, Remote):
        return True
    if type(value) in (list, tuple):
        return any(_holds_remote(v) for v in value)
    if type(value) is dict:
        return any(_holds_remote(v) for v in value.values())
    return False


def _to_wire(value, box: "Sandbox | None" = None, plain_only: bool = False):
    """A hidden test's argument for the wire: tensors and plain values as they are, the
    student's objects as references, and a grader's model (an ``nn.Module`` of the grader's)
    as a callback handle: the student's code can call it, it runs here."""
    if isinstance(value, Remote):
        if value.ref is None or plain_only:
            raise TypeError(f"{value.name} is a function or class, not a value")
        return {"__kind__": "ref", "ref": value.ref}
    if type(value) in (list, tuple):
        return type(value)(_to_wire(v, box, plain_only) for v in value)
    if type(value) is dict:
        return {k: _to_wire(v, box, plain_only) for k, v in value.items()}
    if isinstance(value, torch.Tensor):
        return value.detach().clone()
    if isinstance(value, torch.nn.Module) and box is not None and not plain_only:
        oid = len(box._callbacks)
        box._callbacks[oid] = value
        return {"__kind__": "callback", "id": oid}
    return value


MAX_NODES = 200_000           # values in one reply, counted as they are rebuilt
MAX_WIRE_DEPTH = 32
MAX_PICKLE = 8 * 2**20        # the structure of one frame (tensors' bytes are apart)
MAX_TEXT = 20_000


class FrameError(ValueError):
    """A frame from the submission that is not a small, flat, plain torch.save payload."""


def decode_frame(data: bytes):
    """A frame from the submission, checked BEFORE anything is expanded: a torch.save zip whose
    records are all stored (never compressed), whose declared sizes add up to its real size,
    and whose pickle is small; then ``torch.load(weights_only=True)``."""
    import zipfile

    if _stored_zip(data):
        return torch.load(io.BytesIO(data), weights_only=True)
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as z:
            infos = z.infolist()
            if len(infos) > 10_000:
                raise FrameError("the reply has too many records")
            total = 0
            for info in infos:
                if info.compress_type != zipfile.ZIP_STORED or info.file_size != info.compress_size:
                    raise FrameError("the reply holds compressed records")
                total += info.file_size
                if info.filename.endswith("data.pkl") and info.file_size > MAX_PICKLE:
                    raise FrameError("the reply's structure is too large")
            if total > len(data):
                raise FrameError("the reply declares more data than it holds")
    except zipfile.BadZipFile:
        raise FrameError("the reply is not a torch.save payload") from None
    return torch.load(io.BytesIO(data), weights_only=True)


def _stored_zip(data: bytes) -> bool:
    """The fast check of :func:`decode_frame`, straight from the zip's central directory: True
    when every record is stored (not compressed), sizes add up and the pickle is small; False
    when the slow, thorough path must decide (zip64, anything unusual)."""
    end = data.rfind(b"PK\x05\x06", max(0, len(data) - 65_600))
    if end < 0 or end + 22 > len(data):
        return False
    _, _, _, count, total, size, offset, _ = struct.unpack_from("<IHHHHIIH", data, end)
    if count == 0xFFFF or size == 0xFFFFFFFF or offset == 0xFFFFFFFF or offset + size > end \
            or count > 10_000:
        return False
    pos, declared = offset, 0
    for _ in range(count):
        if data[pos:pos + 4] != b"PK\x01\x02":
            return False
        (method, csize, usize, nlen, xlen, clen) = struct.unpack_from("<H8xII3H", data, pos + 10)
        if method != 0 or csize != usize or usize == 0xFFFFFFFF:
            return False
        name = data[pos + 46:pos + 46 + nlen]
        if name.endswith(b"data.pkl") and usize > MAX_PICKLE:
            return False
        declared += usize
        pos += 46 + nlen + xlen + clen
    return declared <= len(data)


def _text(value) -> str:
    text = value if type(value) is str else "error"
    return text if len(text) <= MAX_TEXT else text[:MAX_TEXT] + " ... (cut)"


def _from_wire(box: Sandbox, value, budget: list, depth: int = 0):
    """The reply rebuilt for the hidden tests, counting every value: shared references (a list
    holding itself twice, n levels deep) cannot expand into 2**n copies, nor nest without end."""
    budget[0] -= 1
    if budget[0] < 0:
        raise SandboxError("protocol error: the reply holds too many values")
    if depth > MAX_WIRE_DEPTH:
        raise SandboxError("protocol error: the reply is nested too deeply")
    if type(value) is dict and value.get("__kind__") == "ref":
        ref = value.get("ref")
        if type(ref) is not int:
            raise SandboxError("protocol error: malformed reference")
        return Remote(box, ref=ref, kind=_text(value.get("type", "object"))[:100])
    if type(value) is dict and value.get("__kind__") == "repr":
        return _text(value.get("repr"))
    if type(value) in (list, tuple):
        return type(value)(_from_wire(box, v, budget, depth + 1) for v in value)
    if type(value) is dict:
        return {k: _from_wire(box, v, budget, depth + 1) for k, v in value.items()}
    if type(value) is str:
        budget[0] -= len(value) // 64
        if budget[0] < 0:
            raise SandboxError("protocol error: the reply holds too much text")
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
        req = {"op": "call", "args": _to_wire(list(args), self._box),
               "kwargs": _to_wire(kwargs, self._box), "method": self._method}
        if self.ref is not None:
            req["ref"] = self.ref
        else:
            req["name"] = self.name
        return self._box.request(**req)

    def __getattr__(self, method: str):
        if method.startswith("__") or self.ref is None:
            raise AttributeError(method)
        return Remote(self._box, ref=self.ref, kind=self.kind, method=method)

    @staticmethod
    def __grader_inspect__(obj: "Remote") -> dict:
        """The state of the student's module, read with torch's own storage, not its methods
        (see :func:`autograder.runner.module_state`); used by ``tlcourse.checks.module_state``."""
        if obj.ref is None or obj._method is not None:
            raise TypeError("not a module")
        value = obj._box.request(op="inspect", ref=obj.ref)
        if type(value) is not dict:
            raise TypeError("not a module")
        return value

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


# --------------------------------------------------------------------------- forked sandboxes
CLONE_FLAGS = 0x00020000 | 0x04000000 | 0x08000000 | 0x20000000 | 0x40000000  # ns uts ipc pid net


def kill_uid(uid: int, threads: bool = False) -> None:
    """SIGKILL every process of ``uid`` (a sandbox's own uid): from a child that takes that uid
    (forked; or, from a process with threads, util-linux's ``setpriv``)."""
    if not uid or os.geteuid() != 0:
        return
    if threads:
        subprocess.run(["setpriv", f"--reuid={uid}", f"--regid={uid}", "--clear-groups",
                        "kill", "-KILL", "-1"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        return
    pid = os.fork()
    if pid == 0:
        try:
            os.setgroups([])
            os.setgid(uid)
            os.setuid(uid)
            os.kill(-1, signal.SIGKILL)
        except BaseException:
            pass
        os._exit(0)
    os.waitpid(pid, 0)


class ForkedSandbox(Sandbox):
    """The sandbox of one submission, forked from its judge (see :mod:`autograder.forkserver`):
    the same namespaces, cgroup, uid, file system and limits as :class:`Sandbox`, without starting
    Python or importing torch again."""

    def __init__(self, req: dict, limits: Limits, nb_fd: int, public):
        super().__init__(cells=[], hide=req["hide"], limits=limits, uid=req["uid"],
                         isolate=True)
        self.req, self.nb_fd, self.public = req, nb_fd, public
        self.pid = None
        self.code = None
        self.cgroup_dirs = [Path(d) for d in req.get("cgroup", [])]

    def spawn(self) -> None:
        from autograder import forkserver, runner

        job = {"isolate": True, "hide": self.hide, "keep": self.req["keep"],
               "tmp_mb": self.limits.tmp_mb, "uid": self.uid, "rlimits": self.limits.rlimits(),
               "cell_s": self.limits.cell_s, "call_s": self.limits.call_s, "env": SANDBOX_ENV,
               "notebook_cap": self.req["notebook_cap"]}
        to_r, from_r = os.pipe(), os.pipe()
        keep = {to_r[0], from_r[1], self.nb_fd}
        self.deadline = time.monotonic() + self.limits.wall_s
        pid = os.fork()
        if pid == 0:                                   # the sandbox's first process
            code = 127
            try:
                forkserver.die_with_parent()
                os.setsid()
                for name in os.listdir("/proc/self/fd"):
                    fd = int(name)
                    if fd > 2 and fd not in keep:
                        try:
                            os.close(fd)
                        except OSError:
                            pass
                for d in self.cgroup_dirs:
                    with open(d / "cgroup.procs", "w") as f:
                        f.write(str(os.getpid()))
                libc = ctypes.CDLL(None, use_errno=True)
                if libc.unshare(CLONE_FLAGS) != 0:
                    raise OSError(ctypes.get_errno(), "unshare")
                child = os.fork()
                if child == 0:                         # PID 1 of the new namespaces
                    try:
                        forkserver.die_with_parent()
                        runner.sandbox_main(job, to_r[0], from_r[1], self.nb_fd, self.public)
                    except BaseException:
                        pass
                    os._exit(0)
                for fd in keep:
                    os.close(fd)
                _, status = os.waitpid(child, 0)
                if os.WIFSIGNALED(status):
                    sig = os.WTERMSIG(status)
                    signal.signal(sig, signal.SIG_DFL)
                    os.kill(os.getpid(), sig)
                code = os.waitstatus_to_exitcode(status)
            except BaseException:
                pass
            os._exit(code if code >= 0 else 127)
        self.pid = pid
        os.close(to_r[0])
        os.close(from_r[1])
        self._rfd, self._wfd = from_r[0], to_r[1]
        os.set_blocking(self._wfd, False)
        self.proc = self

    def receive_ready(self) -> dict:
        ready = self._receive()
        names = ready.get("names")
        ready["names"] = {k: v for k, v in names.items()
                          if type(k) is str and v in ("function", "class")} \
            if type(names) is dict else {}
        self.ready = ready
        return ready

    def _alive(self) -> bool:
        if self.pid is None or self.code is not None:
            return False
        pid, status = os.waitpid(self.pid, os.WNOHANG)
        if pid == 0:
            return True
        self.code = os.waitstatus_to_exitcode(status)
        return False

    def _exit_code(self) -> int:
        """The sandbox's exit code; one that closed its pipe but lives on is killed."""
        end = time.monotonic() + 2
        while self._alive() and time.monotonic() < end:
            time.sleep(0.01)
        if self.code is None:
            self.close()
        return self.code if self.code is not None else -signal.SIGKILL

    def close(self) -> None:
        if self.pid is None:
            return
        if self.code is None:
            try:
                os.killpg(self.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
        for d in self.cgroup_dirs:
            try:
                for p in (d / "cgroup.procs").read_text().split():
                    os.kill(int(p), signal.SIGKILL)
            except (OSError, ValueError):
                pass
        # (every process of the sandbox's uid is killed by the grader once the result is in)
        if self.code is None:
            try:
                _, status = os.waitpid(self.pid, 0)
                self.code = os.waitstatus_to_exitcode(status)
            except ChildProcessError:
                self.code = -signal.SIGKILL
        for fd in (self._rfd, self._wfd):
            if fd is not None:
                try:
                    os.close(fd)
                except OSError:
                    pass
        self._rfd = self._wfd = None
        self.pid_done, self.pid = self.pid, None
