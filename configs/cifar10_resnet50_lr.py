"""CIFAR-10 ResNet-50 with an LR layer on the penultimate representation (accelerators).

The paper's setting (arXiv 1804.07090, Sec. 5): ResNet-50 on CIFAR-10, LR
layer before the last fully connected layer, W rank-thresholded every 10 steps.
SGD with momentum and a step schedule is the usual CIFAR recipe; the rank
and loss weights here are this project's choice, as the blog post gives none.
Needs the CIFAR-10 TFDS files under --config.dataset.data_dir.
"""

from configs import default


def get_config():
  c = default.get_config()
  c.model = "resnet50"
  c.dataset.name = "cifar10"
  c.dataset.data_dir = ""  # TFDS default (~/tensorflow_datasets) unless given
  c.num_epochs = 200
  c.batch_size = 128
  c.test_batch_size = 500
  c.optimizer.name = "sgd"
  c.optimizer.learning_rate = 0.1
  c.optimizer.schedule = "piecewise"
  c.optimizer.weight_decay = 5e-4
  c.optimizer.nesterov = True
  c.lowrank.layers = "penultimate"
  c.lowrank.rank = 100
  c.checkpoint_every_steps = 2000
  return c
