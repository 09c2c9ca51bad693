"""Frozen snapshots that play anywhere: weights and metadata on disk, a plain-torch policy, no Ray needed.

A snapshot is a folder `snapshots/NAME/` (or under $ARENA_SNAPSHOTS) holding `weights.pt`, the state dict of a
plain torch MLP, loaded with `torch.load(weights_only=True)`, and `meta.json` (env, architecture, lineage).
A snapshot may also keep its learner's value head: `value.pt`, a second MLP of the same form with one output (the
mover's expected outcome), described by meta["value"] = {"hidden": [...], "activation": ...}. Search policies
(`puct`) need it; playing the snapshot does not.
It plays as the policy `snapshot/NAME` in `arena match`, leaderboards and training opponents.
"""
from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

from arena.errors import ArenaError, ParameterError, UnknownIdError
from arena.features import (FEATURES, LOOKAHEAD, feature_dim, features, lookahead_unavailable,  # re-exported: their
                            uses_last_action)  # home is the core
from arena.hookspecs import hookimpl
from arena.ids import family
from arena.settings import SNAPSHOTS_ENV_VAR, snapshots_dir
from arena.types import GameInfo


class SnapshotError(ArenaError):
    """A snapshot that cannot be read: missing files, corrupt weights, metadata that does not fit."""

    exit_code = 2


def snapshot_names() -> list[str]:
    root = snapshots_dir()
    return sorted(p.name for p in root.iterdir() if (p / "meta.json").is_file()) if root.is_dir() else []


def build_net(meta: Mapping[str, Any], outputs: int | None = None) -> Any:
    """The plain torch MLP a snapshot's weights belong to: hidden layers with an activation, then the logits (or
    `outputs` units: 1 for a value head)."""
    import torch

    sizes = [int(meta["obs_dim"]), *[int(h) for h in meta["hidden"]]]
    activation = {"tanh": torch.nn.Tanh, "relu": torch.nn.ReLU}[meta["activation"]]
    layers: list[Any] = []
    for a, b in zip(sizes, sizes[1:]):
        layers += [torch.nn.Linear(a, b), activation()]
    layers.append(torch.nn.Linear(sizes[-1], int(meta["num_actions"]) if outputs is None else outputs))
    return torch.nn.Sequential(*layers)


def save(directory: Path, state_dict: Mapping[str, Any], meta: Mapping[str, Any],
         value: Mapping[str, Any] | None = None, extra: Sequence[Mapping[str, Any]] = ()) -> Path:
    """Write a snapshot once: weights (and the value head's, with meta["value"] describing it; and the `extra`
    networks of a learner with several modules, weights-1.pt, ..., with meta["seat_nets"] saying which network plays
    which seat) first, metadata last (a folder without meta.json is not a snapshot)."""
    import torch

    if (directory / "meta.json").exists():
        raise SnapshotError(f"Snapshot {directory} exists already; snapshots are written once.")
    if (value is None) != (meta.get("value") is None):
        raise ValueError("a value head's weights and meta['value'] come together")
    directory.mkdir(parents=True, exist_ok=True)
    torch.save(dict(state_dict), directory / "weights.pt")
    for i, more in enumerate(extra, 1):
        torch.save(dict(more), directory / f"weights-{i}.pt")
    if value is not None:
        torch.save(dict(value), directory / "value.pt")
    meta = {**meta, "created_at": datetime.now(timezone.utc).isoformat(timespec="seconds")}
    tmp = directory / "meta.json.tmp"
    tmp.write_text(json.dumps(meta, indent=2))
    tmp.replace(directory / "meta.json")
    return directory


def load(directory: Path) -> tuple[dict[str, Any], Any]:
    """(metadata, torch net with the weights) of a snapshot folder; weights loaded with weights_only=True."""
    meta, nets = load_all(directory)
    return meta, nets[0]


def load_all(directory: Path) -> tuple[dict[str, Any], list[Any]]:
    """(metadata, every network: weights.pt, then weights-1.pt, ... of a snapshot with several modules)."""
    import torch

    try:
        meta = json.loads((directory / "meta.json").read_text())
        seat_nets = meta.get("seat_nets") or [0]
        count = 1 + max([i for i in seat_nets if i is not None], default=0)
        nets = []
        for i in range(count):
            net = build_net(meta)
            net.load_state_dict(torch.load(directory / (f"weights-{i}.pt" if i else "weights.pt"), map_location="cpu",
                                           weights_only=True))
            net.eval()
            nets.append(net)
    except FileNotFoundError as e:
        raise SnapshotError(f"Snapshot {directory} is incomplete: {Path(e.filename).name} is missing.") from e
    except Exception as e:  # corrupt or foreign files: torch's own messages run to many lines
        first = (str(e).strip().splitlines() or [""])[0][:120]
        detail = type(e).__name__ if "Unpickl" in type(e).__name__ else f"{type(e).__name__}: {first}"
        raise SnapshotError(f"Snapshot {directory} cannot be loaded ({detail}). "
                            "It may be corrupt; take a new snapshot or delete the folder.") from e
    return meta, nets


def load_value(directory: Path, meta: Mapping[str, Any]) -> Any:
    """The snapshot's value head (a torch net from features to the mover's expected outcome), or None when the
    snapshot was taken without one; loaded with weights_only=True."""
    import torch

    head = meta.get("value")
    if not head:
        return None
    try:
        net = build_net({**meta, **head}, outputs=1)
        net.load_state_dict(torch.load(directory / "value.pt", map_location="cpu", weights_only=True))
    except Exception as e:
        first = (str(e).strip().splitlines() or [""])[0][:120]
        raise SnapshotError(f"Snapshot {directory}: its value head cannot be loaded ({type(e).__name__}: {first}). "
                            "It may be corrupt; take a new snapshot.") from e
    net.eval()
    return net


class SnapshotPolicy:
    """Plays a frozen snapshot: masked logits of the saved network. By default greedy (its most likely move), except
    in games with hidden information (poker), where it samples: the mixed strategy is what it learned there."""

    directory: Path = Path()

    def __init__(self, greedy: bool | None = None):
        if greedy not in (None, True, False):
            raise ParameterError(f"Parameter 'greedy' of snapshot/{self.directory.name} must be true or false, "
                                 f"got {greedy!r}.")
        self.greedy = greedy
        self._hidden: dict[str, bool] = {}  # env id -> whether the game hides information (asked once per game)
        self.meta, self.nets = load_all(self.directory)
        self.net = self.nets[0]
        # a learner with several modules (sharing by team or agent) kept one network per module; None: a seat it
        # never played (it was bound to another team)
        self.seat_nets: list[int | None] | None = self.meta.get("seat_nets")
        self.version = int(self.meta.get("features", 1))  # snapshots from before the seat feature still play

    def check(self, game: GameInfo) -> str | None:
        if family(self.meta["env"]) != family(game.env_id):
            return f"it was trained on {self.meta['env']}"
        if game.num_actions != self.meta["num_actions"] or feature_dim(game, self.version) != self.meta["obs_dim"]:
            return f"its observation or action sizes do not match {game.env_id}"
        if self.seat_nets is not None and len(self.seat_nets) != game.num_seats:
            return f"it plays {len(self.seat_nets)} seats, {game.env_id} has {game.num_seats}"
        if self.version >= LOOKAHEAD:
            return lookahead_unavailable(game)
        return None

    def act(self, observation: Any, action_mask: np.ndarray, game: GameInfo, rng: np.random.Generator,
            history: Sequence[tuple[int, int]], seat: int, state: Any) -> int:
        return self.act_batch([{"observation": observation, "action_mask": action_mask, "game": game, "rng": rng,
                                "history": history, "seat": seat, "state": state}])[0]

    def act_batch(self, calls: Sequence[Mapping[str, Any]]) -> list[int]:
        """Moves for many boards in one forward pass (the match runner batches games that wait on this snapshot)."""
        actions = []
        for row, call in zip(self._logits(calls), calls):
            if self._greedy_in(call["game"]):
                actions.append(int(np.argmax(row)))
                continue
            p = np.exp(row - row.max())
            actions.append(int(call["rng"].choice(len(p), p=p / p.sum())))
        return actions

    def _greedy_in(self, game: GameInfo) -> bool:
        """Whether it plays its most likely move in this game: as asked, or else unless the game hides information."""
        if self.greedy is not None:
            return self.greedy
        if game.env_id not in self._hidden:
            self._hidden[game.env_id] = game.hidden_information
        return not self._hidden[game.env_id]

    def action_probabilities(self, observation: Any, action_mask: np.ndarray, game: GameInfo,
                             history: Sequence[tuple[int, int]], seat: int, state: Any) -> np.ndarray:
        """The softmax of the masked logits: what the snapshot plays sampled (greedy=false), and the policy that
        exploitability and teachers read."""
        row = self._logits([{"observation": observation, "action_mask": action_mask, "game": game,
                             "history": history, "seat": seat, "state": state}])[0]
        p = np.exp(row - row.max())
        return p / p.sum()

    def _logits(self, calls: Sequence[Mapping[str, Any]]) -> np.ndarray:
        """One row of logits per call, illegal moves at -inf, from one forward pass per network."""
        import torch

        x = np.stack([features(c["game"], c["observation"], c["history"], c["seat"], self.version, c.get("state"))
                      for c in calls])
        with torch.no_grad():
            if self.seat_nets is None:
                logits = self.net(torch.from_numpy(x)).numpy().astype(np.float64)
            else:
                logits = np.empty((len(calls), int(self.meta["num_actions"])))
                which = np.array([self._net_of(c["seat"]) for c in calls])
                for i in set(which.tolist()):
                    logits[which == i] = self.nets[i](torch.from_numpy(x[which == i])).numpy()
        for row, call in zip(logits, calls):
            row[np.asarray(call["action_mask"]) == 0] = -np.inf
        return logits

    def sides(self, game: GameInfo) -> list[int] | None:
        """The sides (teams) whose every seat it has a network for; None: it plays any seat."""
        if self.seat_nets is None or None not in self.seat_nets or len(self.seat_nets) != game.num_seats:
            return None
        return [i for i, seats in enumerate(game.sides) if all(self.seat_nets[s] is not None for s in seats)]

    def _net_of(self, seat: int) -> int:
        assert self.seat_nets is not None
        net = self.seat_nets[seat]
        if net is None:
            playable = [s for s, n in enumerate(self.seat_nets) if n is not None]
            raise SnapshotError(f"snapshot/{self.directory.name} never played seat {seat}: it was trained for seats "
                                f"{', '.join(map(str, playable))} only.")
        return net


def policy_for(name: str) -> type[SnapshotPolicy]:
    """The policy class of snapshot NAME (a folder under the snapshots dir, or a path)."""
    directory = Path(name) if os.sep in name or name.startswith(".") else snapshots_dir() / name
    if not (directory / "meta.json").is_file():
        if not directory.exists():
            raise UnknownIdError("snapshot", name, snapshot_names(), "arena snapshots", where=str(snapshots_dir()),
                                 listing=f"to list them (the folder is ${SNAPSHOTS_ENV_VAR} or ./snapshots)")
        raise SnapshotError(f"Snapshot {directory} is incomplete: meta.json is missing.")
    return type(f"Snapshot_{directory.name}", (SnapshotPolicy,), {"directory": directory})


def actor_state_dict(module_state: Mapping[str, Any], hidden: Sequence[int],
                     layers: tuple[str, str] = ("encoder.actor_encoder.net.mlp", "pi.net.mlp.0")) -> dict[str, Any]:
    """Map an RLlib default module's policy weights (encoder MLP prefix, output layer) onto build_net's names; the
    critic's (encoder.critic_encoder.net.mlp, vf.net.mlp.0) map the same way onto a value head."""
    encoder, head = layers
    out = {}
    for i in range(len(hidden)):
        for part in ("weight", "bias"):
            out[f"{2 * i}.{part}"] = module_state[f"{encoder}.{2 * i}.{part}"]
    for part in ("weight", "bias"):
        out[f"{2 * len(hidden)}.{part}"] = module_state[f"{head}.{part}"]
    return out


@hookimpl
def register_policies(register):
    register("snapshot/*", policy_for,
             description=f"A frozen snapshot: snapshot/NAME plays snapshots/NAME (${SNAPSHOTS_ENV_VAR}); greedy "
                         "(true; false, sampled, in games with hidden information).")


@hookimpl
def register_commands(cli):
    import click

    @cli.command("snapshots")
    @click.option("--json", "as_json", is_flag=True, help="Print JSON.")
    def snapshots_cmd(as_json: bool) -> None:
        """List the frozen snapshots (play one as snapshot/NAME)."""
        from arena.output import emit, field

        rows = []
        for name in snapshot_names():
            try:
                meta = json.loads((snapshots_dir() / name / "meta.json").read_text(encoding="utf-8"))
                if not isinstance(meta, dict):
                    raise ValueError(f"a JSON {type(meta).__name__}, not an object")
            except (OSError, ValueError) as e:  # UnicodeDecodeError and JSONDecodeError are ValueErrors
                click.echo(f"warning: snapshot/{name} left out: its meta.json cannot be read "
                           f"({' '.join(str(e).split())}).", err=True)
                continue
            rows.append({"policy": f"snapshot/{name}", **{k: meta.get(k) for k in (
                "env", "algo", "iteration", "env_steps", "parent", "created_at")}})
        emit(rows, [("Policy", field("policy")), ("Env", field("env")), ("Algo", field("algo")),
                    ("Iteration", field("iteration")), ("Env steps", field("env_steps")), ("Parent", field("parent")),
                    ("Created (UTC)", field("created_at"))], "json" if as_json else "table",
             title=f"snapshots in {snapshots_dir()}", right=["Iteration", "Env steps"])
