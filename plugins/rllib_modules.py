"""Masked RLModules for PPO, APPO and DQN: the action mask in the observation rules illegal actions out everywhere.

The mask is applied in every forward pass that produces action logits or Q-values (inference, exploration,
training, and the target networks), so an illegal action is never sampled, never carries probability in a loss,
and never supplies DQN's bootstrap max.
"""
from __future__ import annotations

from typing import Any

import gymnasium as gym
import torch
from ray.rllib.algorithms.appo.torch.default_appo_torch_rl_module import DefaultAPPOTorchRLModule
from ray.rllib.algorithms.dqn.default_dqn_rl_module import QF_PREDS
from ray.rllib.algorithms.dqn.torch.default_dqn_torch_rl_module import DefaultDQNTorchRLModule
from ray.rllib.algorithms.ppo.torch.default_ppo_torch_rl_module import DefaultPPOTorchRLModule
from ray.rllib.core.columns import Columns
from ray.rllib.core.rl_module.apis.target_network_api import TARGET_NETWORK_ACTION_DIST_INPUTS
from ray.rllib.utils.torch_utils import FLOAT_MIN

MASK, OBS = "action_mask", "observations"


def mask_logits(logits: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    return logits + torch.clamp(torch.log(mask), min=FLOAT_MIN)


class _MaskedSpaces:
    """Mixin: the module is built on the "observations" space and splits the mask off every batch it sees."""

    def __init__(self, *, observation_space: gym.Space | None = None, **kwargs: Any):
        if not isinstance(observation_space, gym.spaces.Dict) or set(observation_space.spaces) != {MASK, OBS}:
            raise ValueError("a masked module needs a Dict observation space with 'observations' and 'action_mask'")
        self.masked_observation_space = observation_space
        super().__init__(observation_space=observation_space[OBS], **kwargs)

    def setup(self) -> None:
        super().setup()
        self.observation_space = self.masked_observation_space

    @staticmethod
    def _split(batch: dict[str, Any]) -> tuple[torch.Tensor, dict[str, Any]]:
        obs = batch[Columns.OBS]
        if isinstance(obs, dict):
            batch = dict(batch)
            batch[MASK] = obs[MASK]
            batch[Columns.OBS] = obs[OBS]
        return batch[MASK], batch


class _Masked(_MaskedSpaces):
    """Mixin for a default actor-critic torch module: the networks see "observations"; the mask edits the logits."""

    def _masked_forward(self, forward: Any, batch: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        mask, batch = self._split(batch)
        out = forward(batch, **kwargs)
        out[Columns.ACTION_DIST_INPUTS] = mask_logits(out[Columns.ACTION_DIST_INPUTS], mask)
        return out

    def _forward_inference(self, batch: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        return self._masked_forward(super()._forward_inference, batch, **kwargs)

    def _forward_exploration(self, batch: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        return self._masked_forward(super()._forward_exploration, batch, **kwargs)

    def _forward_train(self, batch: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        return self._masked_forward(super()._forward_train, batch, **kwargs)

    def compute_values(self, batch: dict[str, Any], embeddings: Any = None) -> Any:
        _, batch = self._split(batch)
        return super().compute_values(batch, embeddings)


class MaskedPPOTorchRLModule(_Masked, DefaultPPOTorchRLModule):
    """PPO's default torch module with action masking."""


class MaskedAPPOTorchRLModule(_Masked, DefaultAPPOTorchRLModule):
    """APPO's default torch module with action masking, its target network included."""

    def forward_target(self, batch: dict[str, Any]) -> dict[str, Any]:
        mask, batch = self._split(batch)
        out = super().forward_target(batch)
        out[TARGET_NETWORK_ACTION_DIST_INPUTS] = mask_logits(out[TARGET_NETWORK_ACTION_DIST_INPUTS], mask)
        return out


class MaskedDQNTorchRLModule(_MaskedSpaces, DefaultDQNTorchRLModule):
    """DQN's default torch module with action masking: illegal Q-values are -inf (RLlib's DQN loss reads -inf as
    "no value", so a terminal next state with no legal move bootstraps 0), and epsilon-greedy explores legal moves.
    """

    def compute_q_values(self, batch: dict[str, Any]) -> dict[str, Any]:
        return self._masked_q(super().compute_q_values, batch)

    def forward_target(self, batch: dict[str, Any]) -> dict[str, Any]:
        return self._masked_q(super().forward_target, batch)

    def _masked_q(self, forward: Any, batch: dict[str, Any]) -> dict[str, Any]:
        mask, batch = self._split(batch)
        out = forward(batch)
        out[QF_PREDS] = torch.where(mask > 0, out[QF_PREDS], float("-inf"))
        return out

    def _forward_exploration(self, batch: dict[str, Any], t: int) -> dict[str, Any]:
        mask, _ = self._split(batch)
        q = self.compute_q_values(batch)[QF_PREDS]
        self.epsilon_schedule.update(t)
        epsilon = self.epsilon_schedule.get_current_value()
        random_actions = torch.multinomial(mask.float().clamp(min=0), num_samples=1).squeeze(1)
        explore = torch.rand(q.shape[0], device=q.device) < epsilon
        return {Columns.ACTIONS: torch.where(explore, random_actions, q.argmax(dim=-1))}
