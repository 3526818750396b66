"""The small CNN in PyTorch with weights copied from a trained Flax run (for reference tools such as torchattacks).

    torch_cnn(loaded_model) -> torch.nn.Module taking NCHW pixels in [0, 1]

Only for comparisons (tests/reference_test.py, bench/): torch is optional
(requirements-bench.txt) and imported here lazily.
"""

from __future__ import annotations

import numpy as np


def torch_cnn(model):
  """A torch.nn.Module computing the same logits as `model` (a LoadedModel of the "cnn" architecture)."""
  import torch  # pylint: disable=g-import-not-at-top
  from torch import nn  # pylint: disable=g-import-not-at-top

  if model.config.model != "cnn":
    raise ValueError(f"torch_cnn ports the 'cnn' architecture, not {model.config.model!r}")
  p = model.params
  t = lambda a: torch.tensor(np.asarray(a, np.float32))

  class CNN(nn.Module):

    def __init__(self):
      super().__init__()
      c_in = p["conv1"]["kernel"].shape[2]
      self.register_buffer("mean", t(model.mean).view(1, -1, 1, 1))
      self.register_buffer("std", t(model.std).view(1, -1, 1, 1))
      self.conv1 = nn.Conv2d(c_in, 32, 3, padding=1)
      self.conv2 = nn.Conv2d(32, 64, 3, padding=1)
      self.fc1 = nn.Linear(p["fc1"]["kernel"].shape[0], p["fc1"]["kernel"].shape[1])
      self.fc2 = nn.Linear(p["fc2"]["kernel"].shape[0], p["fc2"]["kernel"].shape[1])
      with torch.no_grad():
        for name in ("conv1", "conv2"):  # Flax HWIO -> torch OIHW
          getattr(self, name).weight.copy_(t(np.transpose(np.asarray(p[name]["kernel"]), (3, 2, 0, 1))))
          getattr(self, name).bias.copy_(t(p[name]["bias"]))
        for name in ("fc1", "fc2"):  # Flax (in, out) -> torch (out, in)
          getattr(self, name).weight.copy_(t(np.asarray(p[name]["kernel"]).T))
          getattr(self, name).bias.copy_(t(p[name]["bias"]))

    def forward(self, x):
      x = (x - self.mean) / self.std
      x = nn.functional.max_pool2d(torch.relu(self.conv1(x)), 2)
      x = nn.functional.max_pool2d(torch.relu(self.conv2(x)), 2)
      x = x.permute(0, 2, 3, 1).reshape(x.shape[0], -1)  # flatten in Flax's (H, W, C) order
      return self.fc2(torch.relu(self.fc1(x)))

  return CNN().eval()
