"""Chapter 1's recipes: the source models of the vision transfer experiments."""
from __future__ import annotations

from pathlib import Path

from ..zoo import recipe


@recipe("fashion-resnet",
        "ResNet (transformers' ResNetForImageClassification, basic blocks) pre-trained on "
        "Fashion-MNIST 60k: the source model of Chapter 1's transfer experiments",
        "transformers:ResNetForImageClassification",
        hidden_sizes=[32, 64, 128], depths=[1, 1, 1], embedding_size=32,
        epochs=1, batch_size=128, lr=2e-3, seed=0, steps=None)
def fashion_resnet(params: dict, out: Path, progress: bool = True) -> dict:
    import numpy as np
    import torch
    from tqdm.auto import tqdm
    from transformers import ResNetConfig, ResNetForImageClassification

    from ..data import FASHION_CLASSES, fashion_mnist

    torch.manual_seed(params["seed"])
    x, y = fashion_mnist("train")
    x_test, y_test = fashion_mnist("test")
    config = ResNetConfig(num_channels=1, embedding_size=params["embedding_size"],
                          hidden_sizes=params["hidden_sizes"], depths=params["depths"],
                          layer_type="basic", num_labels=10,
                          id2label=dict(enumerate(FASHION_CLASSES)),
                          label2id={c: i for i, c in enumerate(FASHION_CLASSES)})
    model = ResNetForImageClassification(config)
    opt = torch.optim.AdamW(model.parameters(), lr=params["lr"])

    def batch(images):  # uint8 (N, 28, 28) -> float (N, 1, 28, 28), roughly zero-mean unit-std
        return (torch.from_numpy(images).float().unsqueeze(1) / 255.0 - 0.286) / 0.353

    rng = np.random.default_rng(params["seed"])
    n_steps = params["steps"] or params["epochs"] * (len(x) // params["batch_size"])
    order = np.concatenate([rng.permutation(len(x)) for _ in range(params["epochs"] + 1)])
    hist = {"step": [], "loss": [], "accuracy": []}
    model.train()
    for step in tqdm(range(n_steps), desc="fashion-resnet", disable=not progress):
        idx = order[step * params["batch_size"]:(step + 1) * params["batch_size"]]
        out_ = model(pixel_values=batch(x[idx]), labels=torch.from_numpy(y[idx]))
        opt.zero_grad()
        out_.loss.backward()
        opt.step()
        hist["step"].append(step)
        hist["loss"].append(round(out_.loss.item(), 4))
        hist["accuracy"].append(round((out_.logits.argmax(-1).numpy() == y[idx]).mean().item(), 4))
    model.eval()
    with torch.no_grad():
        pred = torch.cat([model(pixel_values=batch(x_test[i:i + 1000])).logits.argmax(-1)
                          for i in range(0, len(x_test), 1000)])
    hist["test_accuracy"] = float((pred.numpy() == y_test).mean())
    model.save_pretrained(out)
    return hist
