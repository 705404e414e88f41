"""The model zoo: recipes keyed by a hash, saved with save_pretrained, cached, atomic."""
import json

import pytest
import torch

from tlcourse import zoo


@pytest.fixture()
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("TLCOURSE_CACHE", str(tmp_path))
    return tmp_path


def test_recipe_key_depends_on_parameters():
    base = zoo.get("fashion-resnet")
    assert base.key == zoo.get("fashion-resnet").key
    assert base.key != zoo.get("fashion-resnet", steps=3).key
    assert base.key != zoo.get("fashion-resnet", seed=1).key


def test_unknown_recipe_or_parameter_is_a_clear_error():
    with pytest.raises(KeyError, match="fashion-resnet"):
        zoo.get("no-such-model")
    with pytest.raises(TypeError, match="no parameters"):
        zoo.get("fashion-resnet", stepz=3)


def test_fashion_resnet_recipe_trains_saves_and_loads(cache):
    path = zoo.build("fashion-resnet", steps=4, progress=False)
    assert path.parent == cache and (path / "config.json").exists()
    assert (path / "model.safetensors").exists()
    info = json.loads((path / "recipe.json").read_text())
    assert info["params"]["steps"] == 4 and info["key"] == zoo.get("fashion-resnet", steps=4).key
    hist = zoo.history("fashion-resnet", steps=4)
    assert len(hist["loss"]) == 4 and 0.0 <= hist["test_accuracy"] <= 1.0
    model = zoo.load("fashion-resnet", steps=4)
    assert type(model).__name__ == "ResNetForImageClassification" and not model.training
    x = torch.zeros(2, 1, 28, 28)
    again = zoo.load("fashion-resnet", steps=4)
    with torch.no_grad():
        assert torch.equal(model(pixel_values=x).logits, again(pixel_values=x).logits)
    # cached: a second build does not retrain
    mtime = (path / "model.safetensors").stat().st_mtime_ns
    assert zoo.build("fashion-resnet", steps=4) == path
    assert (path / "model.safetensors").stat().st_mtime_ns == mtime


def test_same_recipe_gives_the_same_weights(cache):
    a = zoo.load("fashion-resnet", steps=2)
    zoo.build("fashion-resnet", steps=2, force=True, progress=False)
    b = zoo.load("fashion-resnet", steps=2)
    for (n, p), q in zip(a.state_dict().items(), b.state_dict().values()):
        assert torch.equal(p, q), n


def test_an_interrupted_build_leaves_nothing_behind(cache, monkeypatch):
    r = zoo.get("fashion-resnet", steps=1)

    def broken(params, out, progress):
        (out / "partial.bin").write_bytes(b"x")
        raise KeyboardInterrupt

    monkeypatch.setitem(zoo.RECIPES, "fashion-resnet", zoo.Recipe(
        r.name, r.description, broken, r.model_class, zoo.RECIPES["fashion-resnet"].params))
    with pytest.raises(KeyboardInterrupt):
        zoo.build("fashion-resnet", steps=1)
    # Only the (empty) build lock remains: no model folder, no scratch folder.
    left = [p for p in cache.iterdir()]
    assert len(left) == 1 and left[0].suffix == ".lock" and left[0].stat().st_size == 0, left


def test_recipe_key_covers_the_course_code_it_uses(monkeypatch):
    """A recipe's key hashes every course module its training code imports, transitively: editing
    a library function a recipe uses gives it a new key (a stale model is never loaded), editing
    one it does not use leaves the key alone."""
    used = zoo.course_modules(zoo.get("tiny-bert").train.__module__)
    assert {"tlcourse.bert", "tlcourse.data", "tlcourse.recipes.bert"} <= used
    assert "tlcourse.zoo" not in used and "tlcourse.checks.bert" not in used
    before = {name: zoo.get(name).key for name in ("tiny-bert", "fashion-resnet", "sotu-gpt")}
    real = zoo._module_source

    def edited(module):
        source = real(module)
        if module == "tlcourse.bert":       # one changed line inside one used function
            source = source.replace("def mask_tokens(", "def mask_tokens(  # edited\n", 1)
            assert "# edited" in source
        return source

    monkeypatch.setattr(zoo, "_module_source", edited)
    assert zoo.get("tiny-bert").key != before["tiny-bert"]
    assert zoo.get("fashion-resnet").key == before["fashion-resnet"]
    assert zoo.get("sotu-gpt").key == before["sotu-gpt"]


SHIPPED = sorted(n for n, r in (zoo._register_all() or zoo.RECIPES).items() if r.shipped)
SHIPPED_BUDGET = 50 * 2**20          # all shipped weights together


def test_shipped_weights_are_small_and_complete():
    assert SHIPPED, "no shipped recipe: drop these tests or the mechanism"
    total = 0
    for name in SHIPPED:
        folder = zoo.SHIPPED_DIR / name
        files = {p.name for p in folder.iterdir()}
        assert {"config.json", "model.safetensors", "history.json", "recipe.json"} <= files, (name, files)
        assert not any(f.endswith((".bin", ".pt", ".pth", ".pkl")) for f in files), files
        info = json.loads((folder / "recipe.json").read_text())
        assert info["retrain"] == zoo.RETRAIN_COMMAND and info["seconds"] > 0
        total += sum(p.stat().st_size for p in folder.iterdir())
    assert total <= SHIPPED_BUDGET, f"shipped weights take {total / 2**20:.1f} MB, over 50 MB"


@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_weights_come_from_their_recipe(name):
    """The shipped folder carries the key of the recipe as the code is now (a changed recipe or
    library function fails here, with the command that retrains), and replaying the recipe's
    first steps gives exactly the losses of the shipped training log."""
    folder = zoo.build(name)                       # checks the key; raises if stale
    assert folder == zoo.SHIPPED_DIR / name
    logged = json.loads((folder / "history.json").read_text())["loss"]
    replayed = zoo.replay(name, 12)["loss"]
    assert replayed == logged[:12], (replayed, logged[:12])
    model = zoo.load(name)
    assert not model.training


def test_a_stale_shipped_model_is_a_clear_error(monkeypatch):
    name = SHIPPED[0]
    real = zoo._module_source
    monkeypatch.setattr(zoo, "_module_source",
                        lambda m: real(m) + ("\n# edited\n" if m == "tlcourse.data" else ""))
    with pytest.raises(RuntimeError, match="RETRAIN=1"):
        zoo.build(name)


def test_a_variant_of_a_shipped_recipe_trains_in_the_cache(cache):
    r = zoo.get(SHIPPED[0], steps=2)
    assert not r.is_shipped
    path = zoo.build(SHIPPED[0], steps=2, progress=False)
    assert path.parent == cache
    assert len(zoo.history(SHIPPED[0], steps=2)["loss"]) == 2


def test_a_recipe_is_built_after_the_recipes_it_is_built_on():
    """`make assets` trains recipes in parallel; one built on another waits for it."""
    assert zoo.dependencies("rt-lm") == {"sotu-lm"}
    assert zoo.dependencies("digits-transfer") == {"fashion-resnet"}
    assert zoo.dependencies("bert-transfer") == {"tiny-bert"}
    assert zoo.dependencies("t5-tiny-multitask") == {"t5-tiny-sotu"}
    assert zoo.dependencies("fashion-resnet") == set()


def test_the_longest_chains_of_recipes_start_first():
    """`make assets` starts first the recipes on the longest chain of expected work: a recipe
    with a long recipe built on it (tiny-bert, then bert-transfer) must not wait behind short ones,
    nor a long recipe whose work is not counted in steps start last."""
    names = sorted(zoo.RECIPES)
    keys = {r.name: r.key for r in zoo.RECIPES.values()}
    work = {n: zoo.expected_work(n) for n in names}
    assert work["bert-transfer"] == zoo.get("bert-transfer").work > 0      # a hint, in seconds
    assert work["tiny-bert"] == zoo.get("tiny-bert").params["steps"]        # otherwise its steps
    path = {n: zoo.critical_path(n, names, keys) for n in names}
    assert path["tiny-bert"] == work["tiny-bert"] + path["bert-transfer"]
    assert path["t5-tiny-sotu"] == work["t5-tiny-sotu"] + max(path["t5-tiny-multitask"],
                                                              path["t5-tiny-multitask-scratch"])
    assert path["distil-student"] == work["distil-student"]                 # nothing built on it
    assert all(w > 0 for n, w in work.items() if not zoo.get(n).shipped), work
