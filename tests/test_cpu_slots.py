"""The grader's CPU slots: a submission that sleeps gives its core away, and takes one back
(when one is free) as soon as it computes again, so sleepers never hold the class hostage and a
woken sleeper is counted against the cores again."""
from autograder.grade import CpuSlots, slot_change


def test_a_sleeper_releases_its_slot_after_four_idle_looks():
    assert slot_change(True, [False] * 3) is None          # not a second of looks yet
    assert slot_change(True, [True, False, False, False]) is None
    assert slot_change(True, [False] * 4) == "release"
    assert slot_change(False, [False] * 4) is None         # nothing to give back twice


def test_a_woken_sleeper_reclaims_a_slot_once_it_computes():
    assert slot_change(False, [False, False, False, True]) is None   # one look can be a blip
    assert slot_change(False, [False, False, True, True]) == "reclaim"
    assert slot_change(True, [False, False, True, True]) is None     # already holding one


def test_reclaiming_never_waits_for_a_slot():
    slots = CpuSlots(1)
    slots.acquire()
    assert slots.try_acquire() is False      # all cores busy: it runs on, without blocking
    slots.release()
    assert slots.try_acquire() is True


def test_feedback_workers_take_only_cpu_the_sandboxes_leave_idle(tmp_path):
    """The feedback pages written while grading run outside the CPU slots, so their workers sit
    in an idle CPU group next to the sandboxes' (a nice value only ranks processes within their
    own group or session); once grading is over they get the usual share, and the group goes."""
    import time

    import pytest

    from autograder.grade import FeedbackWriter
    from conftest import require_sandbox

    require_sandbox()
    with FeedbackWriter("04_attention", tmp_path, 2) as writer:
        group = writer.cpu.dir
        if group is None:
            pytest.skip("no CPU control group can be made here")
        knob, grading, after = writer.cpu.knob
        assert (group / knob).read_text().split()[0] == grading
        workers = set(writer.pool._processes)
        for _ in range(100):       # each worker joins as it starts, before it takes any page
            inside = {int(p) for p in (group / "cgroup.procs").read_text().split()}
            if inside == workers:
                break
            time.sleep(0.05)
        assert inside == workers and len(workers) == 2, (inside, workers)
        writer.finish([])
        assert (group / knob).read_text().split()[0] == after
    assert not group.exists()


def test_feedback_runs_where_no_cpu_group_can_be_made(tmp_path, monkeypatch):
    """The idle group is scheduling, not a limit: without a cgroup file system (or with a plain
    folder where one should be) there is no group, nothing is left behind, and the workers run
    at the lowest nice value."""
    from autograder.sandbox import BackgroundCpu, ControlGroup

    monkeypatch.setattr(ControlGroup, "V2", tmp_path / "no-cgroups")
    (tmp_path / "no-cgroups").write_text("")
    cpu = BackgroundCpu()
    assert cpu.dir is None
    cpu.normal()
    cpu.remove()
    monkeypatch.setattr(ControlGroup, "V2", tmp_path / "plain")
    (tmp_path / "plain" / "cpu").mkdir(parents=True)
    cpu = BackgroundCpu()
    assert cpu.dir is None
    assert list((tmp_path / "plain" / "cpu" / "tlcourse").iterdir()) == []
