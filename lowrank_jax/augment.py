"""Data augmentation for natural images, inside the jitted train step, random per example.

    crop_flip(image, dy, dx, flip, pad)        # one image: zero-pad by `pad`, crop at (dy, dx), maybe mirror
    augment(kind, images, keys, pad=4)         # a batch, one key per example
    example_keys(seed, epoch, indices)         # fold_in(fold_in(key(seed), epoch), index): the same for an
                                               # example whatever the batch size, order or device count
    resolve(kind, dataset) -> "none" | "crop" | "crop_flip"

config.dataset.augment: "auto" (CIFAR-10/100: crop_flip, the standard recipe of He et al. 2016; SVHN: crop, since
digits are not mirror-symmetric; Fashion-MNIST: none), or "none", "crop", "crop_flip".
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

KINDS = ("auto", "none", "crop", "crop_flip")
AUTO = {"cifar10": "crop_flip", "cifar100": "crop_flip", "cifar100_coarse": "crop_flip", "svhn": "crop"}


def resolve(kind: str, dataset: str) -> str:
  """The augmentation a run uses: `kind`, with "auto" decided by the dataset."""
  return AUTO.get(dataset, "none") if kind == "auto" else kind


def crop_flip(image: jax.Array, dy: jax.Array, dx: jax.Array, flip: jax.Array, pad: int = 4) -> jax.Array:
  """image (H, W, C) zero-padded by `pad` on each side, cropped back to (H, W) at offset (dy, dx) in [0, 2 pad]
  (pad, pad: the image itself), then mirrored left-right where `flip`."""
  h, w, c = image.shape
  padded = jnp.pad(image, ((pad, pad), (pad, pad), (0, 0)))
  out = jax.lax.dynamic_slice(padded, (dy, dx, 0), (h, w, c))
  return jnp.where(flip, out[:, ::-1], out)


def augment(kind: str, images: jax.Array, keys: jax.Array, pad: int = 4) -> jax.Array:
  """A batch (n, H, W, C) augmented by `kind` ("none", "crop", "crop_flip"), example i with keys[i]."""
  if kind == "none":
    return images

  def one(key, image):
    k_crop, k_flip = jax.random.split(key)
    dy, dx = jax.random.randint(k_crop, (2,), 0, 2 * pad + 1)
    flip = jax.random.bernoulli(k_flip) if kind == "crop_flip" else jnp.asarray(False)
    return crop_flip(image, dy, dx, flip, pad)

  return jax.vmap(one)(keys, images)


def example_keys(seed: int, epoch: jax.Array, indices: jax.Array) -> jax.Array:
  """One key per example: fold_in(fold_in(PRNGKey(seed), epoch), index)."""
  base = jax.random.fold_in(jax.random.PRNGKey(seed), epoch)
  return jax.vmap(lambda i: jax.random.fold_in(base, i))(indices)
