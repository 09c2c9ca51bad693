"""A third-party algorithm plugin for tests: a linear softmax policy trained by REINFORCE in numpy, without Ray.

It implements `arena.protocols.Learner` and nothing more, which is what lets `arena train` and the league
scheduler drive it: episodes are played by Arena's match runner against the opponents of its table, and
snapshots are written in Arena's snapshot format, so they play as `snapshot/NAME` anywhere.
"""
from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from arena import hookimpl

KNOWN = {"lr": 0.5, "episodes": 16}


class _Actor:
    """The learner's policy in one seat of one game: samples from the softmax and keeps (features, mask, action)."""

    def __init__(self, learner: NumpyLearner, seat_log: list[tuple[np.ndarray, np.ndarray, int]]):
        self.learner, self.log = learner, seat_log

    def act(self, observation: Any, action_mask: np.ndarray, game: Any, seat: int, history: Any,
            rng: np.random.Generator) -> int:
        from arena.plugins.snapshot import features

        x = features(game, observation, history, seat)
        p = self.learner.probabilities(x, action_mask)
        action = int(rng.choice(len(p), p=p))
        self.log.append((x, np.asarray(action_mask, dtype=bool), action))
        return action


class NumpyLearner:
    def __init__(self, env: str, table: Mapping[str, float], hyperparameters: Mapping[str, Any], seed: int):
        from arena.plugins.snapshot import feature_dim
        from arena.registry import Registry

        self.reg = Registry()
        self.game = self.reg.make_game(env)
        self.info = self.game.info
        self.hp = {**KNOWN, **hyperparameters}
        self.rng = np.random.default_rng(seed)
        self.weights = np.zeros((self.info.num_actions, feature_dim(self.info)))
        self.bias = np.zeros(self.info.num_actions)
        self.iteration = self.env_steps = 0
        self.opponents: dict[str, Any] = {}
        self.set_table(table)

    @classmethod
    def check_hyperparameters(cls, params: Mapping[str, Any], hyperparameters: Mapping[str, Any]) -> str | None:
        unknown = sorted(set(hyperparameters) - set(KNOWN))
        return f"numpy-pg has no hyperparameter {', '.join(unknown)} (it knows {', '.join(KNOWN)})." if unknown else None

    @classmethod
    def create(cls, params: Mapping[str, Any], *, env: str, table: Mapping[str, float],
               hyperparameters: Mapping[str, Any], hidden: tuple[int, ...], seed: int,
               resources: Mapping[str, Any]) -> NumpyLearner:
        return cls(env, table, hyperparameters, seed)

    def probabilities(self, x: np.ndarray, mask: np.ndarray) -> np.ndarray:
        logits = np.where(np.asarray(mask, dtype=bool), self.weights @ x + self.bias, -np.inf)
        e = np.exp(logits - logits.max())
        return e / e.sum()

    def set_table(self, table: Mapping[str, float]) -> None:
        self.table = {k: float(w) for k, w in table.items() if w > 0}
        for spec in self.table:
            if spec != "self" and spec not in self.opponents:
                self.opponents[spec] = self.reg.make_policy(spec)

    def train(self) -> dict[str, Any]:
        from arena.match import play_game
        from arena.policy import BoundPolicy

        names, weights = list(self.table), np.array(list(self.table.values()))
        outcomes: dict[str, list[float]] = {}
        grad_w, grad_b = np.zeros_like(self.weights), np.zeros_like(self.bias)
        for _ in range(int(self.hp["episodes"])):
            opponent = names[int(self.rng.choice(len(names), p=weights / weights.sum()))]
            me = int(self.rng.integers(self.info.num_seats))
            logs: list[list[Any]] = [[] for _ in range(self.info.num_seats)]
            seats = [BoundPolicy("learner", _Actor(self, logs[s])) if opponent == "self" or s == me
                     else self.opponents[opponent] for s in range(self.info.num_seats)]
            result = play_game(self.game, seats, int(self.rng.integers(2**31)))
            self.env_steps += result.length
            outcomes.setdefault(opponent, []).append(result.score(me))
            for seat, log in enumerate(logs):
                advantage = result.score(seat) - 0.5
                for x, mask, action in log:
                    p = self.probabilities(x, mask)
                    d = -p
                    d[action] += 1.0
                    grad_w += advantage * np.outer(d, x)
                    grad_b += advantage * d
        episodes = int(self.hp["episodes"])
        self.weights += self.hp["lr"] * grad_w / episodes
        self.bias += self.hp["lr"] * grad_b / episodes
        self.iteration += 1
        return {"iteration": self.iteration, "env_steps": self.env_steps, "outcomes": outcomes, "illegal_actions": 0}

    def snapshot(self, name: str, *, parent: str | None = None, directory: Any = None) -> Path:
        import torch

        from arena.plugins import snapshot

        meta = {"env": self.info.env_id, "algo": "numpy-pg", "obs_dim": int(self.weights.shape[1]),
                "num_actions": self.info.num_actions, "hidden": [], "activation": "tanh",
                "features": snapshot.FEATURES, "iteration": self.iteration, "env_steps": self.env_steps,
                "parent": parent}
        weights = {"0.weight": torch.tensor(self.weights, dtype=torch.float32),
                   "0.bias": torch.tensor(self.bias, dtype=torch.float32)}
        return snapshot.save(Path(directory) if directory else snapshot.snapshots_dir() / name, weights, meta)

    def save(self, path: Any) -> None:
        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        np.savez(path / "policy.npz", weights=self.weights, bias=self.bias)
        (path / "counters.json").write_text(json.dumps({"iteration": self.iteration, "env_steps": self.env_steps}))

    def load(self, path: Any) -> None:
        path = Path(path)
        with np.load(path / "policy.npz") as saved:
            self.weights, self.bias = saved["weights"], saved["bias"]
        counters = json.loads((path / "counters.json").read_text())
        self.iteration, self.env_steps = int(counters["iteration"]), int(counters["env_steps"])

    def stop(self) -> None:
        self.game.close()


@hookimpl
def register_algorithms(register):
    register("numpy-pg", NumpyLearner, description="Linear softmax policy gradient in numpy (a test plugin).")
