"""CIFAR-style ResNet-18 and the default CNN in PyTorch, the same architectures as lowrank_jax.models (bench/training.py)."""

from __future__ import annotations

import torch
from torch import nn


class BasicBlock(nn.Module):

  def __init__(self, cin: int, planes: int, stride: int):
    super().__init__()
    self.conv1 = nn.Conv2d(cin, planes, 3, stride, 1, bias=False)
    self.bn1 = nn.BatchNorm2d(planes, momentum=0.1)
    self.conv2 = nn.Conv2d(planes, planes, 3, 1, 1, bias=False)
    self.bn2 = nn.BatchNorm2d(planes, momentum=0.1)
    self.shortcut = nn.Sequential()
    if stride != 1 or cin != planes:
      self.shortcut = nn.Sequential(nn.Conv2d(cin, planes, 1, stride, bias=False), nn.BatchNorm2d(planes))

  def forward(self, x):
    y = torch.relu(self.bn1(self.conv1(x)))
    return torch.relu(self.bn2(self.conv2(y)) + self.shortcut(x))


class ResNet18(nn.Module):

  def __init__(self, in_channels: int = 1, num_classes: int = 10, width: float = 1.0):
    super().__init__()
    w = [max(1, int(round(c * width))) for c in (64, 128, 256, 512)]
    self.conv1 = nn.Conv2d(in_channels, w[0], 3, 1, 1, bias=False)
    self.bn1 = nn.BatchNorm2d(w[0])
    layers, cin = [], w[0]
    for i, planes in enumerate(w):
      for j in range(2):
        layers.append(BasicBlock(cin, planes, (1 if i == 0 else 2) if j == 0 else 1))
        cin = planes
    self.layers = nn.Sequential(*layers)
    self.fc = nn.Linear(cin, num_classes)

  def forward(self, x):
    x = self.layers(torch.relu(self.bn1(self.conv1(x))))
    return self.fc(x.mean(dim=(2, 3)))


class CNN(nn.Module):
  """The default CNN (lowrank_jax.models.CNN): conv32-pool-conv64-pool-fc128-fc10, input normalised inside."""

  def __init__(self, in_channels: int = 1, num_classes: int = 10, hidden: int = 128):
    super().__init__()
    self.conv1 = nn.Conv2d(in_channels, 32, 3, padding=1)
    self.conv2 = nn.Conv2d(32, 64, 3, padding=1)
    self.fc1 = nn.Linear(7 * 7 * 64, hidden)
    self.fc2 = nn.Linear(hidden, num_classes)

  def forward(self, x):
    x = (x - 0.286) / 0.353
    x = nn.functional.max_pool2d(torch.relu(self.conv1(x)), 2)
    x = nn.functional.max_pool2d(torch.relu(self.conv2(x)), 2)
    return self.fc2(torch.relu(self.fc1(x.flatten(1))))
