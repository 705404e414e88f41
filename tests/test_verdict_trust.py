"""The verdict trusts nothing the student defined (autograder/THREATS.md, threats 25 to 28): answers that
hand the hidden tests something of their own, and are right about nothing else, earn nothing.

| submission        | chapter | what it does                                                              |
|-------------------|---------|---------------------------------------------------------------------------|
| lying-state       | 1       | freezes nothing; its ResNet's state_dict() reports the state it was given |
| lookup            | 1       | fine_tune returns a model that looks each image's label up (no learning)  |
| fake-probe        | 7       | its own timing_probe that never sleeps, and a latency read off the probe  |
| nan-latency       | 7       | measure_latency calls the model right, then returns NaN (nothing else)    |

Each is graded with the reference solution next to it (full marks), through the course's grader.
"""
import pytest

from autograder import assignment as model
from autograder import course, grade
from autograder.sandbox import Limits
from testkit.submissions import filled, release_notebook, solution_cells, write
from conftest import require_sandbox

pytestmark = pytest.mark.slow

LYING_STATE = '''
_ResNet = ResNet
class ResNet(_ResNet):
    """The right network, whose state_dict() reports what load_state_dict() was given."""
    def load_state_dict(self, state, strict=True):
        out = super().load_state_dict(state, strict=strict)
        object.__setattr__(self, "_told", {k: v.clone() for k, v in super().state_dict().items()})
        return out

    def state_dict(self, *a, **k):
        told = self.__dict__.get("_told")
        return {n: v.clone() for n, v in told.items()} if told else super().state_dict(*a, **k)
'''

NOTHING_FROZEN = '''
def freeze_backbone(model):
    """Freezes nothing; returns the count a frozen model would have."""
    return model.fc.weight.numel() + model.fc.bias.numel()
'''

LOOKUP = '''
def fine_tune(pretrained, images, labels, steps=40):
    """No learning: a model that looks every image of the data set up by its bytes."""
    table = {bytes(im.numpy().tobytes()): int(l) for im, l in zip(target_images, target_labels)}

    class Lookup(vision.ResNet):
        def forward(self, x):
            out = torch.full((len(x), 5), -10.0)
            for i, im in enumerate(x):
                out[i, table.get(bytes(im.numpy().tobytes()), 0)] = 10.0
            return out

        def state_dict(self, *a, **k):           # "trained": the pre-trained weights, nudged
            return {n: v + 1e-3 if v.is_floating_point() else v for n, v in pretrained.items()}

    net = Lookup(**SMALL, num_classes=5)
    net.load_state_dict(pretrained)
    return net
'''

FAKE_PROBE = '''
def timing_probe(delays=(), vocab=20, dim=8):
    """Its own probe: never sleeps, reports perfect calls."""
    class Fast(TimingProbe):
        def forward(self, input_ids, attention_mask=None):
            self.log.append({"training": False, "grad": False})
            return torch.zeros(1)
    return Fast(delays, vocab, dim)


def count_parameters(model):
    return sum(p.numel() for p in model.parameters())


def measure_latency(model, batch, repeats=5, warmup=1):
    """No timing: the median read off the probe's own delays."""
    for _ in range(warmup + repeats):
        model(**batch)
    timed = sorted(model.delays[warmup:warmup + repeats])
    return float(timed[len(timed) // 2])
'''

NAN_LATENCY = '''
def timing_probe(delays=(), vocab=20, dim=8):
    return TimingProbe(delays, vocab, dim)


def count_parameters(model):
    raise NotImplementedError()


def measure_latency(model, batch, repeats=5, warmup=1):
    model.eval()
    with torch.no_grad():
        for _ in range(warmup + repeats):
            model(**batch)
    return float("nan")
'''


def _submission(assignment, overrides=None, release=False):
    nb = release_notebook(assignment) if release else filled(assignment)
    for cell in nb.cells:
        gid = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")
        if gid in (overrides or {}):
            cell.source = overrides[gid]
    return nb


def _grade(assignment, subs, tmp_path):
    require_sandbox()
    folder = tmp_path / "subs"
    for name, nb in subs.items():
        write(nb, folder / f"{name}.ipynb")
    results = grade.grade(assignment, folder, tmp_path / "work", workers=2, progress=False,
                          limits=Limits(wall_s=180, cpu_s=180))
    return {r.student: r for r in results}


def _scores(r):
    return {g.removesuffix("_tests"): t.score for g, t in r.tasks.items()}


@pytest.fixture(scope="module")
def chapter1(tmp_path_factory):
    a = "01_transfer_learning"
    sol = solution_cells(a)
    return _grade(a, {
        "solution": _submission(a),
        "lying-state": _submission(a, {"resnet": sol["resnet"] + LYING_STATE,
                                       "freeze_backbone": NOTHING_FROZEN}),
        "lookup": _submission(a, {"fine_tune": LOOKUP}),
    }, tmp_path_factory.mktemp("trust1"))


@pytest.fixture(scope="module")
def chapter7(tmp_path_factory):
    a = "07_t5_distilbert"
    assert "measurement" in model.of(a, public=True).answers
    return _grade(a, {
        "solution": _submission(a),
        "fake-probe": _submission(a, {"measurement": FAKE_PROBE}),
        "nan-latency": _submission(a, {"measurement": NAN_LATENCY}, release=True),
    }, tmp_path_factory.mktemp("trust7"))


def test_the_solutions_keep_full_marks(chapter1, chapter7):
    for results in (chapter1, chapter7):
        r = results["solution"]
        assert all(t.score == t.max_score for t in r.tasks.values()), (r.error, _scores(r))


def test_a_model_that_reports_a_state_it_does_not_have_gains_nothing(chapter1):
    r = chapter1["lying-state"]
    assert r.tasks["freeze_backbone_tests"].score == 0, r.tasks["freeze_backbone_tests"]
    assert r.tasks["resnet_tests"].score == r.tasks["resnet_tests"].max_score   # still right


def test_held_out_images_never_reach_the_students_model(chapter1):
    r = chapter1["lookup"]
    assert r.tasks["fine_tune_tests"].score == 0, r.tasks["fine_tune_tests"]


def test_the_students_own_probe_is_never_trusted(chapter7):
    r = chapter7["fake-probe"]
    t = r.tasks["measurement_tests"]
    assert t.passed < t.total, t                    # the latency test fails: no timing was done


def test_nan_fails_every_numeric_comparison(chapter7):
    r = chapter7["nan-latency"]
    assert r.total == 0, _scores(r)
