"""Chapter 1's recipes: the source model of the vision transfer experiments, and the experiments.

The models are the course's own ResNet (:mod:`tlcourse.vision`, residual blocks written in torch)
wrapped as a ``transformers`` model, :class:`ResNetForImageClassification` with its own
:class:`ResNetConfig`, so that the zoo saves and loads them with ``save_pretrained`` /
``from_pretrained`` (``config.json`` + ``model.safetensors``) like every model of the course. The
wrapper has the interface of ``transformers.ResNetForImageClassification``: ``model(pixel_values=x,
labels=y)`` returns ``.logits`` and ``.loss``; ``model.resnet`` is the plain torch network.
"""
from __future__ import annotations

import functools
from pathlib import Path

from .. import vision
from ..data import FASHION_CLASSES
from ..zoo import RECIPES, recipe


@functools.cache
def _classes():
    # Defined on first use: importing the zoo must not import transformers (seconds).
    import torch.nn.functional as F
    from transformers import PretrainedConfig, PreTrainedModel
    from transformers.modeling_outputs import ImageClassifierOutput

    class ResNetConfig(PretrainedConfig):
        """Configuration of the course's ResNet (:class:`tlcourse.vision.ResNet`)."""
        model_type = "tlcourse-resnet"

        def __init__(self, widths=(16, 32, 64), depths=(1, 1, 1), num_channels=1, **kwargs):
            self.widths, self.depths, self.num_channels = list(widths), list(depths), num_channels
            super().__init__(**kwargs)

    class ResNetForImageClassification(PreTrainedModel):
        """The course's ResNet behind the interface of transformers' image classifiers."""
        config_class = ResNetConfig
        base_model_prefix = "resnet"
        main_input_name = "pixel_values"

        def __init__(self, config: ResNetConfig):
            super().__init__(config)
            self.resnet = vision.ResNet(config.widths, config.depths, config.num_labels,
                                        config.num_channels)
            self.post_init()

        def _init_weights(self, module):
            pass  # keep PyTorch's initialisation (Kaiming-uniform convolutions, BN weight 1 bias 0)

        def forward(self, pixel_values, labels=None, **kwargs):
            logits = self.resnet(pixel_values)
            loss = None if labels is None else F.cross_entropy(logits, labels)
            return ImageClassifierOutput(loss=loss, logits=logits)

    for cls in (ResNetConfig, ResNetForImageClassification):
        cls.__module__, cls.__qualname__ = __name__, cls.__name__
    return ResNetConfig, ResNetForImageClassification


def __getattr__(name: str):
    if name in ("ResNetConfig", "ResNetForImageClassification"):
        return dict(zip(("ResNetConfig", "ResNetForImageClassification"), _classes()))[name]
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


@recipe("fashion-resnet",
        "the course's ResNet (tlcourse.vision: 3 stages of basic blocks) pre-trained on "
        "Fashion-MNIST 60k: the source model of Chapter 1's transfer experiments",
        "tlcourse.recipes.vision:ResNetForImageClassification", work=120,
        widths=[16, 32, 64], depths=[1, 1, 1], epochs=1, batch_size=128, lr=3e-3, seed=0,
        steps=None)
def fashion_resnet(params: dict, out: Path, progress: bool = True) -> dict:
    import torch
    from tqdm.auto import tqdm

    from ..data import fashion_mnist

    torch.set_num_threads(1)    # small tensors: more threads only add contention
    torch.manual_seed(params["seed"])
    x, y = fashion_mnist("train")
    x_test, y_test = fashion_mnist("test")
    x, y, x_test, y_test = (vision.to_tensor(x), torch.from_numpy(y),
                            vision.to_tensor(x_test), torch.from_numpy(y_test))
    config_cls, model_cls = _classes()
    model = model_cls(config_cls(widths=params["widths"], depths=params["depths"], num_labels=10,
                                 id2label=dict(enumerate(FASHION_CLASSES)),
                                 label2id={c: i for i, c in enumerate(FASHION_CLASSES)}))
    steps = params["steps"] or params["epochs"] * (len(x) // params["batch_size"])
    hist = vision.pretrain(model.resnet, x, y, steps, lr=params["lr"],
                           batch_size=params["batch_size"], seed=params["seed"],
                           eval_every=max(1, steps // 12), x_val=x_test[:1000], y_val=y_test[:1000],
                           train_eval_size=1000,
                           progress=(lambda it: tqdm(it, desc="fashion-resnet")) if progress else None)
    hist["test_accuracy"] = vision.accuracy(model.resnet, x_test, y_test)
    model.save_pretrained(out)
    return hist


@recipe("digits-transfer",
        "Chapter 1's label-budget experiment: MNIST digits learned from scratch, by a linear probe "
        "on the frozen fashion-resnet backbone and by fine-tuning it, for several label budgets "
        "and seeds; keeps the table and the model fine-tuned on all labels",
        "tlcourse.recipes.vision:ResNetForImageClassification",
        budgets=[50, 100, 500, 4000], steps=[40, 50, 100, 200], seeds=[0, 1, 2],
        lr=2e-3, backbone_lr=5e-4, probe_lr=2e-2, batch_size=64, test_per_class=100,
        split_seed=1234, source=RECIPES["fashion-resnet"].key)
def digits_transfer(params: dict, out: Path, progress: bool = True) -> dict:
    import numpy as np
    import torch
    from tqdm.auto import tqdm

    from .. import zoo
    from ..data import mnist_5k

    torch.set_num_threads(1)
    x, y = mnist_5k()
    test = vision.balanced_subset(y, params["test_per_class"], seed=params["split_seed"])
    pool = np.setdiff1d(np.arange(len(y)), test)                # the labelled examples we may use
    x, y = vision.to_tensor(x), torch.from_numpy(y)
    source = zoo.load("fashion-resnet").resnet
    runs, keep = [], None
    jobs = [(b, s, strategy) for b, _ in zip(params["budgets"], params["steps"])
            for s in params["seeds"] for strategy in vision.STRATEGIES]
    steps_of = dict(zip(params["budgets"], params["steps"]))
    for budget, seed, strategy in tqdm(jobs, desc="digits-transfer", disable=not progress):
        idx = (pool if budget >= len(pool) else
               pool[vision.balanced_subset(y[pool].numpy(), budget // 10, seed=seed)])
        torch.manual_seed(seed)
        model, opt = vision.transfer(strategy, source, 10, lr=params["lr"],
                                     backbone_lr=params["backbone_lr"], probe_lr=params["probe_lr"])
        if strategy == "linear probe":
            # A frozen backbone (eval-mode batch norm) gives the same features at every step:
            # compute them once and train the head alone on them, the same updates for less work.
            vision.fit(model.fc, vision.embed(model, x[idx]), y[idx], steps_of[budget], opt,
                       batch_size=params["batch_size"], seed=seed)
        else:
            vision.fit(model, x[idx], y[idx], steps_of[budget], opt,
                       batch_size=params["batch_size"], seed=seed)
        pred = vision.predict(model, x[test])
        runs.append({"strategy": strategy, "budget": budget, "seed": seed,
                     "steps": steps_of[budget],
                     "train_accuracy": vision.accuracy(model, x[idx], y[idx]),
                     "test_accuracy": float((pred == y[test]).float().mean()),
                     "per_class": [float((pred[y[test] == c] == c).float().mean()) for c in range(10)]})
        if strategy == "fine-tune" and budget == max(params["budgets"]) and keep is None:
            keep = model
    config_cls, model_cls = _classes()
    digits = model_cls(config_cls(widths=[s[0].conv1.out_channels for s in keep.stages],
                                  depths=[len(s) for s in keep.stages], num_labels=10))
    digits.resnet.load_state_dict(keep.state_dict())
    digits.save_pretrained(out)
    return {"runs": runs, "test_indices": test.tolist()}
