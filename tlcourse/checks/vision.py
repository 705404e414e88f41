"""Visible checks of Chapter 1's assignment (transfer learning with a ResNet).

Each ``check_*`` takes the student's function or class, runs it on small fixed inputs, and raises
:class:`~tlcourse.checks.CheckFailed` naming the likely mistake. The references are the course's
own modules in :mod:`tlcourse.vision` (a residual block and ResNet as in He et al., 2016) given
the same weights; the hidden tests use the helpers defined here too.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .. import vision
from . import expect_tensor, fail, is_close, max_diff, passed, randn

# Task 6: the mean held-out accuracy over three fine-tuning runs must reach this. Measured on 60
# draws of 25 labelled target images (40 steps each): the reference solution scores 0.775 on
# average and its mean of three was never below 0.72; the same network trained from scratch for
# the same steps, at the best of three learning rates (1e-3, 3e-3, 1e-2), scores 0.56 and its mean
# of three never exceeded 0.60.
FINE_TUNE_THRESHOLD = 0.65
SMALL = dict(widths=(8, 16, 32), depths=(1, 1, 1))   # the assignment's small ResNet
N_TARGET = 5                                          # target classes: digits 5-9
SHOTS = 5                                             # labelled examples per target class


def randomized(module: nn.Module, seed: int | None = None) -> nn.Module:
    """Give every weight and batch-norm statistic of ``module`` random values (from torch's
    global generator, or ``seed``), so that a mistake cannot hide behind ones and zeros."""
    g = torch.Generator().manual_seed(seed) if seed is not None else None
    with torch.no_grad():
        for m in module.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.weight.copy_(1 + 0.3 * torch.randn(m.weight.shape, generator=g))
                m.bias.copy_(0.3 * torch.randn(m.bias.shape, generator=g))
                m.running_mean.copy_(0.3 * torch.randn(m.running_mean.shape, generator=g))
                m.running_var.copy_(0.5 + torch.rand(m.running_var.shape, generator=g))
            elif isinstance(m, (nn.Conv2d, nn.Linear)):
                fan_in = m.weight[0].numel()
                m.weight.copy_(torch.randn(m.weight.shape, generator=g) / fan_in ** 0.5)
                if m.bias is not None:
                    m.bias.copy_(0.3 * torch.randn(m.bias.shape, generator=g))
    return module


def random_model(resnet_cls):
    """A model built with ``resnet_cls`` (the student's ResNet of Task 2, or the grader's proxy to
    it) with random widths, class count and weights, drawn from torch's global generator.
    Returns ``(model, a copy of its state dict, widths, num_classes)``."""
    widths = tuple(int(w) for w in torch.randint(2, 13, (3,)))
    k = int(torch.randint(2, 12, ()))
    ref = randomized(vision.ResNet(widths, num_classes=k))
    model = resnet_cls(widths=widths, num_classes=k)
    # Random weights wherever the names match: a Task 2 mistake that adds or drops a module
    # (a projection shortcut, say) must not cost the points of Tasks 3-5, graded on this model.
    model.load_state_dict(ref.state_dict(), strict=False)
    return model, {key: v.clone() for key, v in model.state_dict().items()}, widths, k


def _load(task: str, mine: nn.Module, ref: nn.Module, hint: str = "") -> None:
    """Copy the reference's weights into the student's module, or fail naming what differs."""
    theirs, ours = mine.state_dict(), ref.state_dict()
    missing, unexpected = sorted(set(ours) - set(theirs)), sorted(set(theirs) - set(ours))
    if missing or unexpected:
        fail(task, f"the module's parameters do not have the expected names. Missing: "
                   f"{missing[:6] or 'none'}; unexpected: {unexpected[:6] or 'none'}. {hint}")
    for key, value in ours.items():
        if tuple(theirs[key].shape) != tuple(value.shape):
            fail(task, f"`{key}` has shape {tuple(theirs[key].shape)}, expected "
                       f"{tuple(value.shape)}. {hint}")
    mine.load_state_dict(ours)


def _module(task: str, obj, name: str, kind: type, what: str):
    value = getattr(obj, name, None)
    if not isinstance(value, kind):
        fail(task, f"`self.{name}` should be {what}, but it is {type(value).__name__}.")
    return value


# --------------------------------------------------------------------------- task 1
def _block_variant(ref: vision.BasicBlock, x: torch.Tensor, relu_before_add=False,
                   stride_in_conv2=False) -> torch.Tensor:
    """What a block with the reference's weights computes with a common mistake."""
    c1, c2 = ref.conv1, ref.conv2
    s1, s2 = ((1, c1.stride) if stride_in_conv2 else (c1.stride, 1))
    out = F.relu(ref.bn1(F.conv2d(x, c1.weight, stride=s1, padding=1)))
    out = ref.bn2(F.conv2d(out, c2.weight, stride=s2, padding=1))
    if relu_before_add:
        return F.relu(out) + ref.shortcut(x)
    return F.relu(out + ref.shortcut(x))


def check_basic_block(cls) -> None:
    task = "BasicBlock"
    for k, (c_in, c_out, stride) in enumerate([(4, 4, 1), (4, 8, 1), (4, 8, 2), (6, 6, 2)]):
        mine = cls(c_in, c_out, stride)
        _module(task, mine, "conv1", nn.Conv2d, "the first 3x3 nn.Conv2d")
        _module(task, mine, "conv2", nn.Conv2d, "the second 3x3 nn.Conv2d")
        _module(task, mine, "bn1", nn.BatchNorm2d, "an nn.BatchNorm2d")
        _module(task, mine, "bn2", nn.BatchNorm2d, "an nn.BatchNorm2d")
        shortcut = _module(task, mine, "shortcut", nn.Module,
                           "a module: nn.Sequential() for the identity, or a projection")
        has_params = any(True for _ in shortcut.parameters())
        needs = stride != 1 or c_in != c_out
        if needs and not has_params:
            change = (f"the channels change ({c_in} -> {c_out}) with stride 1" if stride == 1
                      else f"the stride is {stride}")
            fail(task, f"with BasicBlock({c_in}, {c_out}, stride={stride}) {change}, so x cannot "
                       "be added to F(x) as it is: the shortcut must be a projection (a 1x1 "
                       "convolution with that stride, then batch norm) whenever the stride OR the "
                       "number of channels changes. Yours has no parameters (an identity).")
        if not needs and has_params:
            fail(task, f"BasicBlock({c_in}, {c_out}, stride=1) keeps the shape: its shortcut should "
                       "be the identity (nn.Sequential() with no parameters), not a projection.")
        ref = randomized(vision.BasicBlock(c_in, c_out, stride), seed=10 + k)
        _load(task, mine, ref, "Use the names of the task: conv1, bn1, conv2, bn2, and a "
              "projection shortcut nn.Sequential(nn.Conv2d(..., 1, stride, bias=False), "
              "nn.BatchNorm2d(...)) — a 1x1 convolution followed by batch norm.")
        x = randn(2, c_in, 7, 7, seed=20 + k)
        mine.eval(), ref.eval()
        with torch.no_grad():
            y = mine(x)
            expect_tensor(task, y, tuple(ref(x).shape), f"the output of BasicBlock({c_in}, {c_out}, "
                          f"stride={stride}) on a (2, {c_in}, 7, 7) input")
            if not is_close(y, ref(x)):
                if is_close(y, _block_variant(ref, x, relu_before_add=True)):
                    fail(task, "the ReLU is applied before the addition: the block computes "
                               "relu(bn2(conv2(...)) + shortcut(x)); the last ReLU comes AFTER "
                               "adding the shortcut.")
                if stride != 1 and is_close(y, _block_variant(ref, x, stride_in_conv2=True)):
                    fail(task, "the stride belongs to the first 3x3 convolution (conv1), "
                               "not to conv2.")
                fail(task, f"BasicBlock({c_in}, {c_out}, stride={stride}) in eval mode differs from "
                           f"the reference given the same weights (max difference "
                           f"{max_diff(y, ref(x)):.2e}): out = relu(bn1(conv1(x))), "
                           "out = bn2(conv2(out)), return relu(out + shortcut(x)).")
        mine.train(), ref.train()
        with torch.no_grad():
            if not is_close(mine(x), ref(x), atol=1e-4):
                fail(task, "in eval mode you match the reference but in train mode you do not: "
                           "use the nn.BatchNorm2d modules (they switch between batch and running "
                           "statistics), not your own normalisation.")
    passed(task)


# --------------------------------------------------------------------------- task 2
def check_resnet(cls) -> None:
    task = "ResNet"
    widths, depths = (4, 6, 8), (1, 2, 1)
    mine = cls(widths=widths, depths=depths, num_classes=7)
    stem = _module(task, mine, "stem", nn.Sequential, "an nn.Sequential (conv, batch norm, ReLU)")
    stages = _module(task, mine, "stages", nn.Sequential, "an nn.Sequential of stages")
    _module(task, mine, "fc", nn.Linear, "the nn.Linear head")
    if not (len(stem) == 3 and isinstance(stem[0], nn.Conv2d) and isinstance(stem[1], nn.BatchNorm2d)
            and isinstance(stem[2], nn.ReLU)):
        fail(task, f"the stem should be nn.Sequential(conv, batch norm, ReLU): conv -> batch norm -> "
                   f"ReLU, three modules; yours has {[type(m).__name__ for m in stem]}.")
    if stem[0].kernel_size != (5, 5) or stem[0].stride != (2, 2) or stem[0].padding != (2, 2):
        fail(task, f"the stem's convolution should be 5x5 with stride 2 and padding 2; yours has "
                   f"kernel {stem[0].kernel_size}, stride {stem[0].stride}, padding {stem[0].padding}.")
    if len(stages) != len(widths) or [len(s) for s in stages] != list(depths):
        fail(task, f"with widths={widths} and depths={depths} there should be {len(widths)} stages "
                   f"of {list(depths)} blocks; yours has {[len(s) for s in stages]}.")
    for i, stage in enumerate(stages):
        for j, blk in enumerate(stage):
            s = blk.conv1.stride[0] if isinstance(getattr(blk, "conv1", None), nn.Conv2d) else None
            want = 2 if (i > 0 and j == 0) else 1
            if s is not None and s != want:
                if i == 0 and j == 0:
                    fail(task, "stage 0 keeps the resolution (the stem already halved it): its "
                               "first block has stride 1; only the later stages start with stride 2.")
                if j > 0:
                    fail(task, f"only the first block of a stage has stride 2; block {j} of stage "
                               f"{i} has stride {s}. The others keep the shape (stride 1).")
                fail(task, f"stage {i} should start with a stride-2 block (it halves the resolution "
                           f"and widens the channels); its first block has stride {s}.")
    ref = randomized(vision.ResNet(widths, depths, num_classes=7), seed=30)
    _load(task, mine, ref, "Use the names of the task: stem (conv, bn, relu), stages (an "
          "nn.Sequential of nn.Sequential stages of blocks), pool, fc.")
    x = randn(3, 1, 28, 28, seed=31)
    for mode in ("eval", "train"):
        getattr(mine, mode)(), getattr(ref, mode)()
        with torch.no_grad():
            feats = getattr(mine, "features", None)
            if not callable(feats):
                fail(task, "the model needs a method `features(x)` returning the pooled backbone "
                           "output of shape (B, widths[-1]).")
            f = expect_tensor(task, mine.features(x), (3, widths[-1]), "features(x)")
            y = expect_tensor(task, mine(x), (3, 7), "the logits")
            if not is_close(f, ref.features(x), atol=1e-4):
                h = ref.stages(ref.stem(x))
                if is_close(f, h.amax((2, 3)), atol=1e-4):
                    fail(task, "the features are max-pooled: ResNet uses global AVERAGE pooling "
                               "(nn.AdaptiveAvgPool2d(1)) before the head.")
                fail(task, f"in {mode} mode, features(x) differs from the reference given the same "
                           f"weights (max difference {max_diff(f, ref.features(x)):.2e}): "
                           "stem -> stages -> global average pooling -> flatten.")
            if not is_close(y, ref(x), atol=1e-4):
                fail(task, "features(x) is right but the logits are not: forward(x) should be "
                           "self.fc(self.features(x)).")
    passed(task)


# --------------------------------------------------------------------------- task 3
def check_replace_head(fn) -> None:
    task = "replace_head"
    model = randomized(vision.ResNet(), seed=40).eval()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    out = fn(model, 3)
    if not isinstance(out, nn.Module):
        fail(task, f"replace_head should return the model, got {type(out).__name__}: "
                   "end with `return model`.")
    head = getattr(out, "fc", None)
    if not isinstance(head, nn.Linear):
        fail(task, f"the returned model's head `fc` should be an nn.Linear, it is {type(head).__name__}.")
    if head.out_features != 3:
        fail(task, f"the new head should have num_classes = 3 outputs; it has {head.out_features}: "
                   "nn.Linear(in_features, num_classes).")
    if head.in_features != 64:
        fail(task, f"the new head should take the backbone's {64} features (read them from "
                   f"model.fc.in_features); it takes {head.in_features}.")
    after = out.state_dict()
    changed = [k for k, v in before.items() if not k.startswith("fc.")
               and (k not in after or not torch.equal(after[k], v))]
    if changed:
        fail(task, f"the backbone's weights changed ({changed[:3]} ...): replace only model.fc "
                   "and keep everything else, the pre-trained part, as it is.")
    with torch.no_grad():
        expect_tensor(task, out(randn(2, 1, 28, 28, seed=41)), (2, 3), "the new model's logits")
    passed(task)


# --------------------------------------------------------------------------- task 4
def _bn_statistics(model: nn.Module) -> dict:
    return {k: v.clone() for k, v in model.state_dict().items()
            if "running_" in k or "num_batches" in k}


def check_freeze_backbone(fn) -> None:
    task = "freeze_backbone"
    model = randomized(vision.ResNet(), seed=50)
    model.train()
    n_head = sum(p.numel() for p in model.fc.parameters())
    total = sum(p.numel() for p in model.parameters())
    n = fn(model)
    trainable = {k for k, p in model.named_parameters() if p.requires_grad}
    if not {"fc.weight", "fc.bias"} <= trainable:
        fail(task, "the head fc must stay trainable (requires_grad=True): it is the only part "
                   "that learns the new task.")
    still = sorted(trainable - {"fc.weight", "fc.bias"})
    if still:
        if all(".bn" in k or "stem.1" in k or "shortcut.1" in k for k in still):
            fail(task, f"the batch-norm weights and biases of the backbone are still trainable "
                       f"({still[:3]} ...): they are parameters of the backbone too; freeze every "
                       "parameter outside fc.")
        fail(task, f"these backbone parameters are still trainable: {still[:4]} ... "
                   "(set requires_grad=False on every parameter outside fc).")
    if isinstance(n, torch.Tensor):
        n = n.item()
    if not isinstance(n, int) or isinstance(n, bool):
        fail(task, f"return the number of trainable parameters as an int, not {type(n).__name__}.")
    if n != n_head:
        extra = (" — that is the total: count only those with requires_grad=True" if n == total else "")
        fail(task, f"return the number of trainable parameters, {n_head} here (fc: 64 x 10 + 10); "
                   f"you returned {n}{extra}.")
    stats = _bn_statistics(model)
    with torch.no_grad():
        model(randn(8, 1, 28, 28, seed=51) * 3 + 1)
    moved = [k for k, v in _bn_statistics(model).items() if not torch.equal(v, stats[k])]
    if moved:
        fail(task, f"after freeze_backbone, one forward pass in train mode changed the batch-norm "
                   f"running statistics ({moved[0]} ...): requires_grad does not cover them, "
                   "they are buffers updated in train mode. Put the backbone's BatchNorm layers in "
                   "eval mode (module.eval()) so they keep the source task's statistics.")
    passed(task)


# --------------------------------------------------------------------------- task 5
def check_param_groups(fn) -> None:
    task = "param_groups"
    model = vision.ResNet()
    groups = fn(model, 1e-2, 1e-3)
    if not isinstance(groups, list) or len(groups) != 2 or not all(isinstance(g, dict) for g in groups):
        fail(task, "return a list of two dicts, [{'params': [...], 'lr': backbone_lr}, "
                   "{'params': [...], 'lr': lr}].")
    for g in groups:
        if not isinstance(g.get("params"), list):
            fail(task, f"each group's 'params' should be a list of parameters, not "
                       f"{type(g.get('params')).__name__} (a generator is used up after one pass: "
                       "wrap it in list(...)).")
        if not isinstance(g.get("lr"), (int, float)):
            fail(task, "each group needs its learning rate under the key 'lr'.")
    names = {id(p): k for k, p in model.named_parameters()}
    seen: dict[str, int] = {}
    for g in groups:
        for p in g["params"]:
            seen[names.get(id(p), "?")] = seen.get(names.get(id(p), "?"), 0) + 1
    twice = sorted(k for k, c in seen.items() if c > 1)
    if twice:
        fail(task, f"some parameters appear in both groups ({twice[:3]} ...): the backbone group "
                   "must leave out the head's parameters (torch.optim refuses overlapping groups).")
    missing = sorted(set(names.values()) - set(seen))
    if missing:
        fail(task, f"these parameters are in no group, so they would never be trained: "
                   f"{missing[:4]}.")
    head = [g for g in groups if any(p is model.fc.weight for p in g["params"])][0]
    if not any(p is model.fc.bias for p in head["params"]):
        fail(task, "model.fc.bias belongs with model.fc.weight, in the head group.")
    if len(head["params"]) != 2:
        fail(task, "the head group should hold exactly the head's parameters, fc.weight and fc.bias.")
    other = groups[1] if head is groups[0] else groups[0]
    if head["lr"] != 1e-2 or other["lr"] != 1e-3:
        fail(task, f"with lr=1e-2 and backbone_lr=1e-3 the head group has lr {head['lr']} and the "
                   f"backbone group {other['lr']}: the backbone should get backbone_lr (the "
                   "smaller one), the new head lr.")
    try:
        torch.optim.AdamW(groups)
    except Exception as e:  # noqa: BLE001  (any refusal is a mistake worth naming)
        fail(task, f"torch.optim.AdamW refuses these groups: {e}")
    passed(task)


# --------------------------------------------------------------------------- task 6
def target_draw(labels: torch.Tensor, shots: int = SHOTS, n_test: int = 1000,
                generator: torch.Generator | None = None):
    """Indices of ``shots`` labelled examples per class and ``n_test`` held-out others."""
    train = torch.cat([torch.nonzero(labels == c).flatten()[
        torch.randperm(int((labels == c).sum()), generator=generator)[:shots]]
        for c in range(int(labels.max()) + 1)])
    rest = torch.ones(len(labels), dtype=torch.bool)
    rest[train] = False
    held = torch.nonzero(rest).flatten()
    return train, held[torch.randperm(len(held), generator=generator)[:n_test]]


def held_out_accuracy(model, images: torch.Tensor, labels: torch.Tensor) -> float:
    """Accuracy of ``model`` (a module, or the grader's proxy to one) in eval mode."""
    model.eval()
    with torch.no_grad():
        logits = model(images)
    if not isinstance(logits, torch.Tensor) or tuple(logits.shape) != (len(images), N_TARGET):
        raise AssertionError(f"the fine-tuned model should return logits of shape "
                             f"({len(images)}, {N_TARGET}) for {len(images)} images")
    return float((logits.argmax(-1) == labels).float().mean())


def graded_copy(model) -> nn.Module:
    """The grader's own small ResNet holding the weights of ``model`` (read with torch's own
    storage, not the model's methods): evaluated on held-out images that the model's code never
    sees, so it cannot look their labels up."""
    from . import module_state

    state = module_state(model)
    net = vision.ResNet(**SMALL, num_classes=N_TARGET)
    try:
        net.load_state_dict({**state["parameters"], **state["buffers"]})
    except (RuntimeError, KeyError) as exc:
        raise AssertionError("fine_tune should return the small pre-trained ResNet, fine-tuned "
                             f"(its weights do not fit it: {str(exc).splitlines()[0][:200]})") from None
    return net


def backbone_similarity(state: dict, pretrained: dict) -> tuple[float, float]:
    """(cosine similarity, largest change) of the backbone's convolution weights between a
    fine-tuned state dict and the pre-trained one."""
    keys = [k for k, v in pretrained.items() if not k.startswith("fc.") and v.dim() == 4]
    a = torch.cat([state[k].flatten().double() for k in keys])
    b = torch.cat([pretrained[k].flatten().double() for k in keys])
    return float(F.cosine_similarity(a, b, dim=0)), float((a - b).abs().max())


def check_fine_tune(fn, pretrained: dict, images: torch.Tensor, labels: torch.Tensor) -> None:
    task = "fine_tune"
    g = torch.Generator().manual_seed(60)
    accs = []
    for run in range(3):
        train, held = target_draw(labels, generator=g)
        model = fn(pretrained, images[train].clone(), labels[train].clone())
        if not isinstance(model, nn.Module):
            fail(task, f"fine_tune should return the trained model, got {type(model).__name__}.")
        state = model.state_dict()
        if set(state) != set(pretrained):
            fail(task, "the returned model's weights do not have the names of the pre-trained "
                       "ones: build vision.ResNet(**SMALL, num_classes=5) (or your ResNet), load "
                       "the pre-trained state dict, then replace its head.")
        if tuple(state["fc.weight"].shape) != (N_TARGET, SMALL["widths"][-1]):
            fail(task, f"the head should have {N_TARGET} outputs, one per target class.")
        similarity, change = backbone_similarity(state, pretrained)
        if similarity < 0.5:
            fail(task, f"the backbone does not start from the pre-trained weights (cosine "
                       f"similarity {similarity:.2f} with them after training): load them with "
                       "model.load_state_dict(pretrained) before replacing the head and training.")
        if change < 1e-6:
            fail(task, "the backbone's weights did not change: this is a linear probe, not "
                       "fine-tuning. Train the backbone too, with a smaller learning rate than "
                       "the head (Task 5's param_groups).")
        with torch.no_grad():
            try:
                accs.append(held_out_accuracy(model, images[held], labels[held]))
            except AssertionError as e:
                fail(task, str(e))
    mean = sum(accs) / len(accs)
    if mean < FINE_TUNE_THRESHOLD:
        fail(task, f"the mean held-out accuracy over three runs is {mean:.3f} "
                   f"({', '.join(f'{a:.3f}' for a in accs)}), below the {FINE_TUNE_THRESHOLD} "
                   "required: check the learning rates (head 1e-2, backbone 1e-3 work), the "
                   "number of steps, and that the model is trained in train mode.")
    print(f"held-out accuracy of three fine-tuning runs: {', '.join(f'{a:.3f}' for a in accs)} "
          f"(mean {mean:.3f} >= {FINE_TUNE_THRESHOLD})")
    passed(task)
