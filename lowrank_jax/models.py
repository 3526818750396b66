"""Flax NNX models whose named layers can carry an LR layer.

Every model takes pixels in [0, 1] of shape (n, H, W, C), normalises them
inside (so attack budgets are in pixel space), returns logits, and `sow`s
the activations of each layer named in its `representation_layers` as
`nnx.Intermediate`. Models know nothing of the regularizer; `apply_fn` reads
the intermediates functionally with `nnx.capture`. `intervene` ({layer: fn})
replaces a layer's activations by fn(activations) for the rest of the forward
pass (compressed representations; what is sown is the original).

    create_model(name, num_classes, input_shape, mean, std, rngs)
    MODELS: "cnn", "resnet18", "resnet50", "vgg19"
    FunctionalModel.from_module(model).apply(params, batch_stats, x, train=...)

Convolutions are `conv.Conv`: `nnx.Conv` with the same values and parameters,
whose gradients take the forms XLA:CPU runs fast (see conv.py).

Max pooling is `max_pool_2x2` (a reshape and a max): the same function as
`nnx.max_pool(x, (2, 2), (2, 2))`, whose reduce-window gradient (select and
scatter) made the CNN's training step 1.7x slower on XLA:CPU.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable, Sequence

import jax
import jax.numpy as jnp
from flax import nnx

from lowrank_jax.conv import Conv

PENULTIMATE = "penultimate"


class _Normalize(nnx.Module):
  def __init__(self, mean: Sequence[float], std: Sequence[float]):
    self.mean = tuple(float(v) for v in mean)  # static, not state
    self.std = tuple(float(v) for v in std)

  def __call__(self, x: jax.Array) -> jax.Array:
    return (x - jnp.asarray(self.mean)) / jnp.asarray(self.std)


def tap(module: nnx.Module, name: str, x: jax.Array, intervene: dict | None) -> jax.Array:
  """Sows x as the representation `name`, then applies intervene[name] if given."""
  module.sow(nnx.Intermediate, name, x)
  return intervene[name](x) if intervene and name in intervene else x


def max_pool_2x2(x: jax.Array) -> jax.Array:
  """2x2 max pooling with stride 2 on NHWC (odd trailing rows/columns dropped, as VALID pooling)."""
  n, h, w, c = x.shape
  x = x[:, : h // 2 * 2, : w // 2 * 2]
  return x.reshape(n, h // 2, 2, w // 2, 2, c).max(axis=(2, 4))


class CNN(nnx.Module):
  """Small CNN for 28x28x1: conv32-pool-conv64-pool-fc(hidden)-fc(classes).

  Layers: conv1, conv2 (post-ReLU, before pooling), pool2 (the pooled conv
  features fed to fc1: 7x7x64 = 3,136-d on 28x28), penultimate (fc1, post-ReLU).
  """

  representation_layers = ("conv1", "conv2", "pool2", PENULTIMATE)
  head = "fc2"  # the Dense layer fed by the penultimate representation

  def __init__(self, num_classes: int, input_shape, mean, std, *, rngs: nnx.Rngs, hidden: int = 128):
    c = input_shape[-1]
    h, w = input_shape[0] // 4, input_shape[1] // 4
    self.normalize = _Normalize(mean, std)
    self.conv1 = Conv(c, 32, (3, 3), rngs=rngs)
    self.conv2 = Conv(32, 64, (3, 3), rngs=rngs)
    self.fc1 = nnx.Linear(h * w * 64, hidden, rngs=rngs)
    self.fc2 = nnx.Linear(hidden, num_classes, rngs=rngs)

  def __call__(self, x: jax.Array, intervene: dict | None = None) -> jax.Array:
    x = self.normalize(x)
    x = tap(self, "conv1", nnx.relu(self.conv1(x)), intervene)
    x = max_pool_2x2(x)
    x = tap(self, "conv2", nnx.relu(self.conv2(x)), intervene)
    x = tap(self, "pool2", max_pool_2x2(x), intervene)
    x = tap(self, PENULTIMATE, nnx.relu(self.fc1(x.reshape(x.shape[0], -1))), intervene)
    return self.fc2(x)


def _conv_bn(cin: int, cout: int, k: int, stride: int, rngs: nnx.Rngs):
  conv = Conv(cin, cout, (k, k), strides=(stride, stride), padding="SAME", use_bias=False, rngs=rngs)
  return conv, nnx.BatchNorm(cout, momentum=0.9, rngs=rngs)


class BasicBlock(nnx.Module):
  expansion = 1

  def __init__(self, cin: int, planes: int, stride: int, *, rngs: nnx.Rngs):
    self.conv1, self.bn1 = _conv_bn(cin, planes, 3, stride, rngs)
    self.conv2, self.bn2 = _conv_bn(planes, planes, 3, 1, rngs)
    projection = stride != 1 or cin != planes
    self.shortcut = nnx.data(nnx.List(_conv_bn(cin, planes, 1, stride, rngs)) if projection else None)

  def __call__(self, x):
    y = nnx.relu(self.bn1(self.conv1(x)))
    y = self.bn2(self.conv2(y))
    s = x if self.shortcut is None else self.shortcut[1](self.shortcut[0](x))
    return nnx.relu(y + s)


class Bottleneck(nnx.Module):
  expansion = 4

  def __init__(self, cin: int, planes: int, stride: int, *, rngs: nnx.Rngs):
    self.conv1, self.bn1 = _conv_bn(cin, planes, 1, 1, rngs)
    self.conv2, self.bn2 = _conv_bn(planes, planes, 3, stride, rngs)
    self.conv3, self.bn3 = _conv_bn(planes, planes * 4, 1, 1, rngs)
    projection = stride != 1 or cin != planes * 4
    self.shortcut = nnx.data(nnx.List(_conv_bn(cin, planes * 4, 1, stride, rngs)) if projection else None)

  def __call__(self, x):
    y = nnx.relu(self.bn1(self.conv1(x)))
    y = nnx.relu(self.bn2(self.conv2(y)))
    y = self.bn3(self.conv3(y))
    s = x if self.shortcut is None else self.shortcut[1](self.shortcut[0](x))
    return nnx.relu(y + s)


class ResNet(nnx.Module):
  """CIFAR-style ResNet (3x3 stem, no max-pool), as in He et al. 2016 Sec. 4.2.

  `width` multiplies every stage's channels (64, 128, 256, 512); 0.25 makes a
  ResNet-18 that trains on 2 CPU cores. layer3 is the input of the last block
  (the paper's placement before the last block: 8x8x256 = 16,384-d on 32x32).
  """

  representation_layers = ("stem", "layer1", "layer2", "layer3", "layer4", PENULTIMATE)
  head = "fc"

  def __init__(self, block, num_blocks: Sequence[int], num_classes: int, input_shape, mean, std, *, rngs: nnx.Rngs,
               width: float = 1.0):
    self.normalize = _Normalize(mean, std)
    widths = [max(1, int(round(c * width))) for c in (64, 128, 256, 512)]
    self.conv1, self.bn1 = _conv_bn(input_shape[-1], widths[0], 3, 1, rngs)
    cin, stages = widths[0], []
    for i, (planes, n) in enumerate(zip(widths, num_blocks)):
      blocks = []
      for j in range(n):
        blocks.append(block(cin, planes, (1 if i == 0 else 2) if j == 0 else 1, rngs=rngs))
        cin = planes * block.expansion
      stages.append(nnx.List(blocks))
    self.stages = nnx.List(stages)
    self.fc = nnx.Linear(cin, num_classes, rngs=rngs)

  def __call__(self, x, intervene: dict | None = None):
    x = tap(self, "stem", nnx.relu(self.bn1(self.conv1(self.normalize(x)))), intervene)
    for i, stage in enumerate(self.stages):
      for blk in stage:
        x = blk(x)
      x = tap(self, f"layer{i + 1}", x, intervene)
    x = tap(self, PENULTIMATE, x.mean(axis=(1, 2)), intervene)
    return self.fc(x)


_VGG19 = (64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M", 512, 512, 512, 512, "M", 512, 512, 512, 512, "M")


class VGG(nnx.Module):
  """VGG-19 with batch norm (Simonyan & Zisserman 2015), for any input of at least 1x1.

  A pooling stage is skipped once the feature map is 1x1 (on 28x28: 14, 7, 3, 1, 1),
  so the classifier never sees an empty map.
  """

  representation_layers = ("block1", "block2", "block3", "block4", "block5", PENULTIMATE)
  head = "fc"

  def __init__(self, num_classes: int, input_shape, mean, std, *, rngs: nnx.Rngs, cfg=_VGG19, width: float = 1.0):
    self.normalize = _Normalize(mean, std)
    cin, layers, (h, w) = input_shape[-1], [], input_shape[:2]
    for v in cfg:
      if v != "M":
        v = max(1, int(round(v * width)))
        layers.append(nnx.List(_conv_bn(cin, v, 3, 1, rngs)))
        cin = v
      elif min(h, w) >= 2:
        h, w = h // 2, w // 2
    self.cfg = tuple(cfg)
    self.convs = nnx.List(layers)
    self.fc = nnx.Linear(cin * h * w, num_classes, rngs=rngs)

  def __call__(self, x, intervene: dict | None = None):
    x, i, block = self.normalize(x), 0, 1
    for v in self.cfg:
      if v == "M":
        if min(x.shape[1], x.shape[2]) >= 2:
          x = max_pool_2x2(x)
        x = tap(self, f"block{block}", x, intervene)
        block += 1
      else:
        conv, bn = self.convs[i]
        x = nnx.relu(bn(conv(x)))
        i += 1
    x = tap(self, PENULTIMATE, x.reshape(x.shape[0], -1), intervene)
    return self.fc(x)


MODELS: dict[str, Callable[..., nnx.Module]] = {
    "cnn": CNN,
    "resnet18": lambda *a, **k: ResNet(BasicBlock, (2, 2, 2, 2), *a, **k),
    "resnet50": lambda *a, **k: ResNet(Bottleneck, (3, 4, 6, 3), *a, **k),
    "vgg19": VGG,
}


WIDTH_MODELS = ("resnet18", "resnet50", "vgg19")  # take config.model_width


def model_kwargs(config) -> dict[str, Any]:
  """Constructor arguments from the config beyond the dataset's (the width multiplier)."""
  return {"width": float(config.model_width)} if config.model in WIDTH_MODELS else {}


def create_model(name: str, num_classes: int, input_shape, mean, std, *, rngs: nnx.Rngs, **kwargs) -> nnx.Module:
  """Builds a model by name; an unknown name raises ValueError listing MODELS."""
  if name not in MODELS:
    raise ValueError(f"config.model={name!r} is unknown; valid: {sorted(MODELS)}")
  return MODELS[name](num_classes, tuple(input_shape), mean, std, rngs=rngs, **kwargs)


Params = Any  # pure dict of arrays


@dataclasses.dataclass(frozen=True)
class FunctionalModel:
  """A model as pure functions of (params, batch_stats): the form jit and sharding want."""

  train_graphdef: Any
  eval_graphdef: Any
  representation_layers: tuple[str, ...] | None  # None: whatever the model sows
  head: str | None  # the Dense layer reading the penultimate representation (for the layer cushion)

  @classmethod
  def from_module(cls, model: nnx.Module, layers: Sequence[str] | None = None,
                  head: str | None = None) -> tuple["FunctionalModel", Params, Params]:
    """Returns (functional model, params, batch_stats) as pure dicts, for any NNX module.

    The module maps pixels (n, H, W, C) in [0, 1] to logits and sows each layer that
    may carry an LR layer: `self.sow(nnx.Intermediate, name, activations)`. `layers`
    and `head` default to the class attributes `representation_layers` and `head`
    if it has them (neither is required: without `layers`, every sown layer counts).
    """
    graphdef, params, stats = nnx.split(model, nnx.Param, nnx.BatchStat)
    try:
      eval_model = nnx.view(model, use_running_average=True)
    except ValueError:  # no BatchNorm: eval and train graphs are the same
      eval_model = model
    eval_graphdef = nnx.split(eval_model, nnx.Param, nnx.BatchStat)[0]
    layers = layers if layers is not None else getattr(type(model), "representation_layers", None)
    head = head if head is not None else getattr(type(model), "head", None)
    fm = cls(graphdef, eval_graphdef, tuple(layers) if layers is not None else None, head)
    return fm, nnx.to_pure_dict(params), nnx.to_pure_dict(stats)

  def apply(
      self, params: Params, batch_stats: Params, x: jax.Array, *, train: bool, intervene: dict | None = None
  ) -> tuple[jax.Array, dict[str, jax.Array], Params]:
    """Returns (logits, features by layer name, updated batch_stats); `intervene`: see the module docstring."""
    model = nnx.merge(self.train_graphdef if train else self.eval_graphdef, params, batch_stats)
    call = nnx.capture(model, nnx.Intermediate)
    logits, inter = call(x, intervene=intervene) if intervene else call(x)
    features = {k: v[0] for k, v in nnx.to_pure_dict(inter).items()}
    new_stats = nnx.to_pure_dict(nnx.state(model, nnx.BatchStat)) if train else batch_stats
    return logits, features, new_stats

  def feature_dims(self, params: Params, batch_stats: Params, input_shape) -> dict[str, int]:
    """m (flattened size) of every representation layer, from shapes alone.

    Raises ValueError (one line) when the model sows nothing, or not a layer it names.
    """
    x = jax.ShapeDtypeStruct((2, *input_shape), jnp.float32)
    _, feats, _ = jax.eval_shape(lambda p, s, x: self.apply(p, s, x, train=False), params, batch_stats, x)
    if not feats:
      raise ValueError("the model sows no representation: in its __call__, call "
                       "self.sow(nnx.Intermediate, name, activations) for each layer an LR layer may regularize")
    missing = [k for k in (self.representation_layers or ()) if k not in feats]
    if missing:
      raise ValueError(f"the model does not sow the layers {missing} it names; it sows {sorted(feats)}")
    names = self.representation_layers or tuple(feats)
    return {k: int(jnp.prod(jnp.array(feats[k].shape[1:]))) for k in names}
