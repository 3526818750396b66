"""CIFAR-10, CIFAR-style ResNet-18 at width 1/4, LR of rank 10 on the penultimate layer (vanilla:
--config.method=vanilla): the recipe of this project's CIFAR-10 grid on 2 CPU cores.

The standard CIFAR recipe (He et al. 2016; the usual ResNet-18 setting of the adversarial-robustness literature):
SGD with Nesterov momentum 0.9, learning rate 0.1 for batch 128, weight decay 5e-4 on the weights, random crops
of the 4-pixel zero-padded image and horizontal flips (config.dataset.augment "auto"), here a linear warm-up over
the first epoch and a cosine decay to 0 over 30 epochs (a short schedule: ~6 min an epoch on 2 cores, measured by
bench/cifar_recipe.py). Data: --config.dataset.data_dir=DIR holding CIFAR-10 as the official python batches, image
folders (a directory or an archive) or TFDS array_record (lowrank_jax/readers.py).
"""

from configs import default


def get_config():
  c = default.get_config()
  c.model = "resnet18"
  c.model_width = 0.25
  c.dataset.name = "cifar10"
  c.dataset.data_dir = ""  # e.g. ../shared/data/cifar10 (the JPEG copy) or a folder with cifar-10-batches-py/
  c.num_epochs = 30
  c.batch_size = 128
  c.test_batch_size = 500
  c.optimizer.name = "sgd"
  c.optimizer.learning_rate = 0.1
  c.optimizer.momentum = 0.9
  c.optimizer.nesterov = True
  c.optimizer.weight_decay = 5e-4
  c.optimizer.schedule = "cosine"
  c.optimizer.warmup_steps = 390  # one epoch of 50,000 / 128
  c.lowrank.layers = "penultimate"
  c.lowrank.rank = 10
  c.lowrank.warmup_steps = 390
  c.checkpoint_every_steps = 390
  c.eval.eps = (8 / 255, 10 / 255, 16 / 255, 20 / 255)  # the paper's table
  c.eval.pgd_grid.audit_eps = 8 / 255
  return c
