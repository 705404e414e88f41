"""Scaling out: the same grades from a real Dask cluster (a scheduler and separate worker
processes) writing into a real PostgreSQL gradebook as from the local, SQLite path."""
import glob
import os
import pwd
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
from conftest import require_sandbox, unavailable

from autograder import grade
from testkit.mutants import load
from testkit.submissions import filled, release_notebook, write

pytestmark = pytest.mark.slow
BIN = Path(sys.executable).parent


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait(predicate, seconds, what):
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        if predicate():
            return
        time.sleep(0.2)
    raise TimeoutError(f"{what} did not come up in {seconds} s")


@pytest.fixture(scope="module")
def postgres():
    """A throw-away PostgreSQL server on 127.0.0.1, run as the `postgres` user."""
    initdb = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if not initdb:
        unavailable("PostgreSQL server binaries not installed (apt-get install postgresql)")
    bindir = Path(initdb[-1]).parent
    user = pwd.getpwnam("postgres")
    # outside pytest's private (0700) tmp folders, so the postgres user can reach it
    base = Path(tempfile.mkdtemp(prefix="tlcourse-pg-"))
    base.chmod(0o755)
    data = base / "data"
    data.mkdir()
    os.chown(data, user.pw_uid, user.pw_gid)
    as_pg = ["runuser", "-u", "postgres", "--"]
    subprocess.run(as_pg + [str(bindir / "initdb"), "-D", str(data), "-A", "trust", "-U", "postgres"],
                   check=True, capture_output=True)
    port = _free_port()
    server = subprocess.Popen(as_pg + [str(bindir / "postgres"), "-D", str(data), "-p", str(port),
                                       "-c", "listen_addresses=127.0.0.1", "-k", str(data)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def ready():
        return subprocess.run([str(bindir / "pg_isready"), "-h", "127.0.0.1", "-p", str(port)],
                              capture_output=True).returncode == 0
    try:
        _wait(ready, 60, "PostgreSQL")
        subprocess.run(as_pg + ["psql", "-h", "127.0.0.1", "-p", str(port), "-c",
                                "CREATE DATABASE gradebook"], check=True, capture_output=True)
        yield f"postgresql+psycopg://postgres@127.0.0.1:{port}/gradebook"
    finally:
        server.terminate()
        server.wait(timeout=30)
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture(scope="module")
def dask_cluster():
    """`dask scheduler` and two `dask worker` processes on 127.0.0.1."""
    port = _free_port()
    address = f"tcp://127.0.0.1:{port}"
    procs = [subprocess.Popen([str(BIN / "dask"), "scheduler", "--host", "127.0.0.1", "--port",
                               str(port), "--no-dashboard"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)]
    try:
        from distributed import Client

        _wait(lambda: socket.socket().connect_ex(("127.0.0.1", port)) == 0, 60, "the scheduler")
        for _ in range(2):
            procs.append(subprocess.Popen([str(BIN / "dask"), "worker", address, "--nthreads", "1",
                                           "--no-dashboard", "--name", f"w{len(procs)}"],
                                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        with Client(address, timeout=60) as client:
            client.wait_for_workers(2, timeout=120)
            pids = client.run(os.getpid)
        assert len(set(pids.values()) - {os.getpid()}) == 2   # separate worker processes
        yield address
    finally:
        for p in reversed(procs):
            p.terminate()
        for p in procs:
            p.wait(timeout=30)


@pytest.fixture(scope="module")
def submissions(tmp_path_factory):
    require_sandbox()
    folder = tmp_path_factory.mktemp("subs")
    write(filled("04_attention"), folder / "solution.ipynb")
    write(release_notebook("04_attention"), folder / "release.ipynb")
    for m in load("04_attention")[::3]:
        write(filled("04_attention", m), folder / f"mutant-{m.name}.ipynb")
    (folder / "broken.ipynb").write_text("{ not json")
    return folder


def _scores(results):
    return {r.student: {g: t.score for g, t in r.tasks.items()} for r in results}


def test_dask_and_postgresql_give_the_same_grades_as_local(submissions, postgres, dask_cluster,
                                                           tmp_path):
    from nbgrader.api import Gradebook

    local = grade.grade("04_attention", submissions, tmp_path / "local", progress=False)
    (tmp_path / "scaled").mkdir()   # the same grading secret: the same hidden-test inputs
    shutil.copy(tmp_path / "local" / ".grading-secret", tmp_path / "scaled" / ".grading-secret")
    scaled = grade.grade("04_attention", submissions, tmp_path / "scaled", progress=False,
                         scheduler=dask_cluster, db_url=postgres)
    assert _scores(scaled) == _scores(local)
    assert len(local) == len(list(submissions.glob("*.ipynb")))
    with Gradebook(postgres, "tlcourse") as gb:
        for r in scaled:
            nb = gb.find_submission_notebook("04_attention", "04_attention", r.student)
            assert {g.name: g.score for g in nb.grades} == {g: t.score for g, t in r.tasks.items()}
    assert not (tmp_path / "scaled" / "gradebook.db").exists()
    shutil.rmtree(tmp_path / "local")
