"""RLlib's BC learner with soft targets: it imitates a teacher's move probabilities (a search's visit counts, as
AlphaZero's policy head does) instead of the single move in the data.

Rows of a dataset exported with a teacher (`arena dataset export --teacher mcts:simulations=400`) carry the column
`action_probs`; RLlib's offline pipeline hands it to the learner as an extra batch column. The loss is the
cross-entropy between those probabilities and the masked policy: a move the teacher found almost as good as its
choice is no longer counted as plainly wrong (measured on Connect Four, 15k positions, a 256x256 MLP: 0.655 against
the heuristic with the probabilities, 0.415 with their argmax as the single move). Imported only when cloning.
"""
from __future__ import annotations

from typing import Any

import torch
from ray.rllib.algorithms.marwil.torch.marwil_torch_learner import MARWILTorchLearner
from ray.rllib.core.columns import Columns
from ray.rllib.core.learner.learner import POLICY_LOSS_KEY

from arena.services.dataset import TEACHER_COLUMN


class SoftTargetBCTorchLearner(MARWILTorchLearner):
    """BC (MARWIL with beta 0) whose policy loss is the cross-entropy to the batch's `action_probs`."""

    def compute_loss_for_module(self, *, module_id: str, config: Any = None, batch: dict[str, Any],
                                fwd_out: dict[str, Any]) -> torch.Tensor:
        targets = batch.get(TEACHER_COLUMN)
        if targets is None:  # rows without a teacher: RLlib's own BC loss
            return super().compute_loss_for_module(module_id=module_id, config=config, batch=batch, fwd_out=fwd_out)
        # the module's logits are masked already (illegal moves at the float minimum), where targets are 0
        log_probs = torch.log_softmax(fwd_out[Columns.ACTION_DIST_INPUTS], dim=-1)
        targets = targets.to(log_probs.dtype)
        loss = -torch.where(targets > 0, targets * log_probs, torch.zeros_like(log_probs)).sum(dim=-1).mean()
        self.metrics.log_value((module_id, POLICY_LOSS_KEY), loss, window=1)
        return loss
