"""CIFAR-10 ResNet-50 with an LR layer on the penultimate representation: the paper's setting (arXiv 1804.07090,
Sec. 5), for accelerators.

ResNet-50 on CIFAR-10, the LR layer before the last fully connected layer, W rank-thresholded every 10 steps.
The usual CIFAR recipe: SGD with Nesterov momentum, weight decay 5e-4, random crops and flips
(config.dataset.augment "auto"), a warm-up epoch then cosine decay over 200 epochs. The rank and loss weights are
this project's choice: the paper gives none. Data: --config.dataset.data_dir=DIR (see configs/cifar10_resnet18.py).
"""

from configs import cifar10_resnet18


def get_config():
  c = cifar10_resnet18.get_config()
  c.model = "resnet50"
  c.model_width = 1.0
  c.num_epochs = 200
  c.lowrank.rank = 100
  c.checkpoint_every_steps = 2000
  return c
