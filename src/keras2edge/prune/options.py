"""What the user asked a pruning run to do: :class:`PruneOptions`, one field per CLI flag / API
keyword, and :meth:`PruneOptions.check`, which refuses bad values before anything is loaded."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..errors import PruneError


@dataclass(frozen=True)
class PruneOptions:
    """``keras2edge prune`` flags / ``keras2edge.prune`` keywords."""

    method: str = "magnitude"          # a key of methods.METHODS: "magnitude", "nm", "channel"
    sparsity: float = 0.5              # fraction of weights (magnitude) or output channels (channel) removed
    n: int = 2                         # N:M: keep N of every M weights along the input dimension
    m: int = 4
    schedule: str | None = None        # magnitude: "layer" (same sparsity per layer), "global", "auto" (sensitivity
                                       # scan); None: allocate.default_schedule ("auto" with calibration data on a
                                       # model of at most AUTO_DEFAULT_TARGETS weights, else "global");
                                       # channel: "layer" or "global" (None: "global")
    exclude: tuple[str, ...] = ()      # globs on Keras layer names left dense
    calibration: Any = None            # calibration data (quantize.data sources): needed by recovery and "auto"
    eval: Any = None                   # labelled or unlabelled data for the report's accuracy / agreement
    recover: bool | None = None        # accuracy recovery (reconstruction, OBS, BN re-estimation, bias
                                       # correction); None = on when calibration data is given
    batch_size: int = 32
    bias_correction: bool = True       # with recovery: restore each output channel's mean (magnitude, nm)
    activation_aware: bool = True      # with recovery (magnitude, nm): rows whose unpruned output a following
                                       # ReLU/ReLU6 clamps weigh prune.saturation.SATURATED_WEIGHT in the fits
    # channel pruning (prune/channels.py; bias_correction above applies when reconstruct is off):
    criterion: str | None = None       # "l1"/"l2" filter norm (scaled by the BatchNorm after it) or "activation"
                                       # (greedy reconstruction cost on calibration data); None: "activation"
                                       # with calibration data, else "l1"
    reconstruct: bool | None = None    # least-squares reconstruction of the consumers (None: follows recover)
    bn_reestimate: bool = False        # BatchNorm moving statistics recomputed after pruning

    def check(self) -> None:
        """PruneError for a value no method accepts (each method checks its own further)."""
        if isinstance(self.sparsity, bool) or not isinstance(self.sparsity, (int, float)) \
                or not 0.0 <= float(self.sparsity) < 1.0:
            raise PruneError(f"sparsity must be in [0, 1), got {self.sparsity!r}")
        if self.method == "nm":
            if not (isinstance(self.n, int) and isinstance(self.m, int)) or self.n < 1 or self.m < 2 \
                    or self.n >= self.m:
                raise PruneError(f"N:M pruning needs 1 <= N < M, got {self.n}:{self.m}")
        if isinstance(self.batch_size, bool) or not isinstance(self.batch_size, int) or self.batch_size < 1:
            raise PruneError(f"batch size must be a positive int, got {self.batch_size!r}")
