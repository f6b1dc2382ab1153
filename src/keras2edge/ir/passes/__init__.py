"""Graph passes: the Pass/PassManager framework and the generic cleanup passes (one per file)."""

from __future__ import annotations

from .base import Pass, PassManager
from .constant_fold import ConstantFoldPass
from .dead_code import DeadCodePass
from .fold_batchnorm import FoldBatchNormPass
from .fold_identity import FoldIdentityPass
from .fuse_activation import FuseActivationPass
from .pipelines import CLEANUP_PASSES, optimize
from .recover_hard_swish import RecoverHardSwishPass
from .unfuse_activation import UnfuseActivationPass

__all__ = ["CLEANUP_PASSES", "ConstantFoldPass", "DeadCodePass", "FoldBatchNormPass", "FoldIdentityPass",
           "FuseActivationPass", "Pass", "PassManager", "RecoverHardSwishPass", "UnfuseActivationPass", "optimize"]
