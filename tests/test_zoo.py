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
