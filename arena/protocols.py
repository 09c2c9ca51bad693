"""The contracts between the core and plugins: the Game every adapter implements, the Policy shape, and the Learner."""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, NotRequired, Protocol, TypedDict, runtime_checkable

import numpy as np

from arena.types import GameInfo


@runtime_checkable
class Game(Protocol):
    """One game in progress, whatever library it comes from. Seats are numbered 0..num_seats-1.

    Chance events are resolved inside the adapter with the generator seeded by reset(), so the
    same seed and the same actions give the same game.
    """

    info: GameInfo

    def reset(self, seed: int) -> None: ...

    def is_over(self) -> bool: ...

    def to_move(self) -> Sequence[int]:
        """Seats that must act now: one for turn-based play, every live seat at a simultaneous step; () when over."""

    def legal_actions(self, seat: int) -> Sequence[int]: ...

    def action_mask(self, seat: int) -> np.ndarray: ...

    def observation(self, seat: int) -> Any: ...

    def step(self, actions: Mapping[int, int]) -> None:
        """Apply one action per seat in to_move()."""

    def returns(self) -> tuple[float, ...]:
        """Cumulative reward of every seat so far (the final outcome once is_over())."""

    def native_state(self) -> Any:
        """The library's own state (a pyspiel.State) for search policies, or None. Do not mutate it."""

    def close(self) -> None: ...


class Policy(Protocol):
    """Anything with act. act and the optional reset/check take any of these arguments, by name:

    observation, action_mask, legal_actions, state (native), seat, rng (numpy Generator),
    history (the (seat, action) moves so far), game (GameInfo).
    A plain function of (observation, action_mask) is a policy too.
    """

    def act(self, *args: Any, **kwargs: Any) -> int: ...


class TrainingResult(TypedDict):
    """What Learner.train() returns after one training iteration."""

    iteration: int  # iterations done so far, this one included (counted across save/load)
    env_steps: int  # env steps sampled so far (counted across save/load)
    outcomes: dict[str, list[float]]  # opponent spec (or "self") -> the learner's score in each training episode
    #                                   finished since the last call: 1 win, 0.5 draw, 0 loss
    illegal_actions: NotRequired[int]  # illegal actions the learner sampled so far (masking should keep it at 0)


@runtime_checkable
class Learner(Protocol):
    """The algorithm contract: what `arena train` and the league scheduler call, and nothing else.

    An algorithm plugin registers a class (or any object with these class methods) with
    `register_algorithms(register)`: `register("myalgo", "mypkg.learner:MyLearner", params={...})`.
    The registration's params reach check_hyperparameters and create. A learner trains one policy that meets
    opponents drawn by weight from its table; an opponent is a policy spec (`random`, `mcts:simulations=50`,
    `snapshot/NAME`) or "self" (the learner plays itself). It keeps no league state: the scheduler owns that.
    """

    iteration: int
    env_steps: int

    @classmethod
    def check_hyperparameters(cls, params: Mapping[str, Any], hyperparameters: Mapping[str, Any]) -> str | None:
        """One line naming the hyperparameters this algorithm does not know, or None. Must not start training
        machinery (no Ray): it runs when a league file is validated."""

    @classmethod
    def create(cls, params: Mapping[str, Any], *, env: str, table: Mapping[str, float],
               hyperparameters: Mapping[str, Any], hidden: tuple[int, ...], seed: int,
               resources: Mapping[str, Any]) -> Learner:
        """A learner for game `env` meeting opponents by `table` ({opponent: weight}), with network sizes `hidden`.
        `resources` holds the scale knobs (num_env_runners, num_envs_per_env_runner, num_learners,
        num_gpus_per_learner, address); a learner ignores those it has no use for."""

    def train(self) -> TrainingResult:
        """One training iteration."""

    def set_table(self, table: Mapping[str, float]) -> None:
        """Meet these opponents, by weight, from the next iteration on."""

    def snapshot(self, name: str, *, parent: str | None = None, directory: Any = None) -> Path:
        """Freeze the current policy as a snapshot folder (Arena's format, see arena.plugins.snapshot) that plays
        as `snapshot/NAME` without the learner; `directory` overrides where it goes. Returns the folder."""

    def save(self, path: Any) -> None:
        """Write everything needed to resume training (weights, optimiser, counters) into folder `path`."""

    def load(self, path: Any) -> None:
        """Resume from a folder written by save()."""

    def stop(self) -> None:
        """Release what the learner holds (Ray actors, processes)."""


@runtime_checkable
class Restorable(Protocol):
    """Optional for a Learner: start from a snapshot (`arena train --init snapshot/NAME`). `restore(folder)` loads the
    snapshot's policy into the learner's and, when the snapshot kept a value head (meta["value"]) and the learner
    has a critic of the same shape, the value head into the critic; a snapshot that does not fit raises an
    ArenaError. `arena train` checks the game, sizes and hidden layers before the learner is created."""

    def restore(self, folder: Path) -> None: ...


class ExternalLearner(Protocol):
    """Optional for a Learner class: train on episodes from simulators outside Arena that connect over TCP
    (`arena train ENV --external [HOST:]PORT`). `create_external` returns a Learner whose train() waits for the
    simulators' episodes (a game with one seat: no opponents; `returns` in each result) instead of stepping Arena's
    env; ENV supplies the spaces and evaluates the snapshots. `arena train` has checked, before anything starts,
    that ENV has one seat, that the ports can be listened on and what `check_external` says (when the class has it),
    and says so in one line for a learner without create_external. Built in: ppo (arena.plugins.rllib_external, on
    RLlib's server EnvRunner)."""

    @classmethod
    def check_external(cls, params: Mapping[str, Any], hyperparameters: Mapping[str, Any]) -> str | None:
        """Optional: one line saying why this algorithm cannot train on external simulators with these
        hyperparameters, or None. Must not start training machinery."""

    @classmethod
    def create_external(cls, params: Mapping[str, Any], *, env: str, host: str, port: int,
                        hyperparameters: Mapping[str, Any], hidden: tuple[int, ...], seed: int,
                        resources: Mapping[str, Any]) -> Learner: ...


class OfflineLearner(Protocol):
    """An offline algorithm: it learns from a dataset (arena.services.dataset, `arena dataset export`) instead of
    meeting opponents, and its result is an ordinary snapshot. Registered like a Learner, with
    `register_algorithms`; `arena train ENV --algo NAME --data DIR` and `behaviour_clone(...)` call it. Built in:
    `bc` (arena.plugins.rllib_offline)."""

    @classmethod
    def check_hyperparameters(cls, params: Mapping[str, Any], hyperparameters: Mapping[str, Any]) -> str | None:
        """One line naming unknown hyperparameters, or None; starts no training machinery."""

    @classmethod
    def clone(cls, params: Mapping[str, Any], *, env: str, train_files: Sequence[Path],
              held_out_files: Sequence[Path], obs_dim: int, num_actions: int, hidden: tuple[int, ...], seed: int,
              hyperparameters: Mapping[str, Any], minutes: float | None, epochs: float | None,
              iterations: int | None, value_gamma: float, features: int, soft_targets: bool, folder: Path,
              data: str, resources: Mapping[str, Any], progress: Any) -> dict[str, Any]:
        """Learn from the rows of `train_files` (the dataset folder `data` less `held_out_files`) until `epochs`
        passes, `iterations` iterations or `minutes` (those given; the first reached stops it), and write snapshot
        `folder` with a value head fitted to the outcomes (discounted by value_gamma per own move left). Returns
        figures for the summary: held_out_accuracy (None when nothing is held out), train_accuracy,
        held_out_cross_entropy, train_cross_entropy, held_out_moves, train_moves, samples, iterations, epochs,
        value_mse, held_out_value_mse. `features` is the rows' encoding (arena.features), for the snapshot's
        metadata; with `soft_targets` every row also has a teacher's move probabilities (column action_probs) to
        imitate instead of the single move."""
