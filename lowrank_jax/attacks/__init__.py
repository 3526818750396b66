"""Attacks as pure functions of a `logits_fn(x) -> (n, K)` logits, one idea a module.

    inputs      check_inputs, InputError: float pixels in [0, 1], integer labels (one line otherwise)
    norms       NORMS["linf" | "l2"] (size, project, steepest, starts, dual), clip_to_ball, example_keys
    losses      ce_loss, margin_loss, dlr_loss, dlr_targeted_loss, top_k_targets, class_gradients
    ascent      the ascent loop with its step rules (fixed, APGD); fgsm, pgd, apgd, apgd_run, apgd_targets
    targets     targeted attacks over every target class at once: rows of (example, target), first success
    deepfool    deepfool -> DeepFoolResult (minimal L2 / Linf perturbation)
    square      square (score-based, gradient-free); square_start / square_queries: the same in spans
    fab         fab, fab_targets (minimal-norm, Fast Adaptive Boundary)
    autoattack  autoattack -> AutoAttackResult, sanity_checks, AttackSettings, VERSIONS

Chunks of examples are padded to few compiled shapes by `lowrank_jax.batching`.

Example:
  from lowrank_jax import attacks
  logits_fn = jax.tree_util.Partial(lambda p, x: model_apply(p, x), params)  # params stay arguments
  x_adv = jax.jit(attacks.pgd, static_argnames=attacks.PGD_STATIC)(logits_fn, x, y, key, eps=0.1, steps=20)
  x_adv = jax.jit(attacks.apgd, static_argnames=attacks.APGD_STATIC)(logits_fn, x, y, key, eps=0.1, loss="dlr")
  result = attacks.deepfool(logits_fn, x)              # result.norms, result.success
  result = attacks.autoattack.autoattack(logits_fn, x, y, key, eps=0.1)   # .robust, .broken_by; any callable
"""

from lowrank_jax.attacks import autoattack  # noqa: F401  (the module: autoattack.autoattack, autoattack.VERSIONS)
from lowrank_jax.attacks.ascent import (APGD_STATIC, PGD_STATIC, Ascent, apgd, apgd_run, apgd_targets,  # noqa: F401
                                        ascent, apgd_step, best_of, fgsm, fixed_step, keep_best, pgd)
from lowrank_jax.attacks.autoattack import AttackSettings, AutoAttackResult, sanity_checks  # noqa: F401
from lowrank_jax.attacks.deepfool import DeepFoolResult, deepfool, deepfool_step  # noqa: F401
from lowrank_jax.attacks.fab import fab, fab_targets, hyperplane_box_projection  # noqa: F401
from lowrank_jax.attacks.inputs import InputError, check_eps, check_inputs, jit  # noqa: F401
from lowrank_jax.attacks.losses import (LOSSES, LogitsFn, LossFn, ce_loss, class_gradients, dlr_loss,  # noqa: F401
                                        dlr_targeted_loss, margin_loss, top_k_targets)
from lowrank_jax.attacks.norms import NORMS, Norm, clip_to_ball, example_keys, random_starts  # noqa: F401
from lowrank_jax.attacks.square import SquareState, square, square_queries, square_start  # noqa: F401
