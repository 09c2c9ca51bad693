"""The `puct` policy: AlphaZero-style tree search on OpenSpiel's native state, guided by a snapshot's two heads.

Priors come from the snapshot's policy head (softmax of its logits over the legal moves), leaf values from its value
head (`value.pt`); there are no rollouts. Each node keeps, per legal move, a prior P, a visit count N and a total
value W seen by the player to move there, and a simulation descends by

    argmax  Q + c_puct * P * sqrt(visits of the node) / (1 + N),    Q = W / N  (an unvisited move: the node's value)

to a node not yet evaluated, which the networks evaluate; its value goes back up the path, negated for the other
player (two-player zero-sum games), and a finished game's own returns stand in for the value head. The move
played is the most visited one (ties broken with the seat's rng).

Batching: a simulation that reaches a leaf puts a virtual loss on its path (each edge counts one more visit and one
more loss) so that the next simulation tends elsewhere, and up to `batch` leaves are gathered per tree before one
forward pass of each head evaluates them all; the virtual losses are then replaced by the real values. A
simulation that reaches a leaf already waiting for the networks ends the gathering early. `act_batch` searches the
boards of many games at once (the match runner's lockstep chunks) and evaluates all their trees' leaves together.
No tree is kept between moves, and transpositions are not merged.
"""
from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from arena.errors import ParameterError
from arena.hookspecs import hookimpl
from arena.types import GameInfo

from arena.gamekinds import needs_two_player_deterministic
from .snapshot import SnapshotError, features, load_value, policy_for

VIRTUAL_LOSS = 1.0  # in units of the game's returns (Connect Four: +1 win, -1 loss)


class _Node:
    """A search state. `actions` is None until the networks have evaluated it (then it is expanded)."""

    __slots__ = ("state", "player", "returns", "actions", "priors", "n", "w", "children", "visits", "value")

    def __init__(self, state: Any):
        self.state = state
        self.returns: list[float] | None = state.returns() if state.is_terminal() else None
        self.player = -1 if self.returns is not None else state.current_player()
        self.actions: list[int] | None = None
        self.priors: list[float] = []
        self.n: list[int] = []
        self.w: list[float] = []
        self.children: list[_Node | None] = []
        self.visits = 0
        self.value = 0.0  # the value head's estimate for `player`, the first-play value of its unvisited moves

    def expand(self, actions: list[int], priors: list[float], value: float) -> None:
        self.actions, self.priors, self.value, self.visits = actions, priors, value, 1
        self.n, self.w, self.children = [0] * len(actions), [0.0] * len(actions), [None] * len(actions)

    def select(self, c_puct: float) -> int:
        """The index of the move PUCT descends into."""
        scale = c_puct * math.sqrt(self.visits)
        fpu, best, best_i = self.value, -math.inf, 0
        for i, (p, n, w) in enumerate(zip(self.priors, self.n, self.w)):
            score = (w / n if n else fpu) + scale * p / (1 + n)
            if score > best:
                best, best_i = score, i
        return best_i

    def child(self, i: int) -> _Node:
        node = self.children[i]
        if node is None:
            state = self.state.clone()
            state.apply_action(self.actions[i])  # type: ignore[index]
            node = self.children[i] = _Node(state)
        return node


class _Tree:
    """One root being searched: its game, the moves before it, the seat's rng and the simulations still to run."""

    __slots__ = ("game", "root", "history", "rng", "left")

    def __init__(self, game: GameInfo, state: Any, history: Sequence[tuple[int, int]], rng: np.random.Generator,
                 simulations: int):
        self.game, self.root, self.history, self.rng = game, _Node(state.clone()), tuple(history), rng
        self.left = simulations


def _backup(path: list[tuple[_Node, int]], values: Sequence[float], undo: float = 0.0) -> None:
    """Add `values` (by player) along the path; `undo` takes back the virtual loss put there while it waited."""
    for node, i in path:
        node.w[i] += values[node.player] + undo


def _apply_virtual_loss(path: list[tuple[_Node, int]]) -> None:
    for node, i in path:
        node.n[i] += 1
        node.w[i] -= VIRTUAL_LOSS
        node.visits += 1


class PUCTPolicy:
    """PUCT search with `simulations` network-evaluated leaves per move, on snapshot `snapshot` (NAME or a path)."""

    def __init__(self, snapshot: str = "", simulations: int = 100, c_puct: float = 2.0, batch: int = 8,
                 noise: float = 0.0, alpha: float = 1.0):
        if not snapshot:
            raise ParameterError("puct needs a snapshot with a value head: puct:snapshot=NAME "
                                 "(`arena snapshots` lists them).")
        if simulations < 1 or batch < 1:
            raise ParameterError(f"puct: simulations and batch must be at least 1 (got {simulations}, {batch}).")
        if c_puct < 0 or not 0 <= noise <= 1 or alpha <= 0:
            raise ParameterError(f"puct: c_puct must be non-negative, noise within [0, 1] and alpha positive "
                                 f"(got {c_puct}, {noise}, {alpha}).")
        self.simulations, self.c_puct, self.batch, self.noise, self.alpha = simulations, c_puct, batch, noise, alpha
        name = snapshot.removeprefix("snapshot/")
        self.snapshot = policy_for(name)()  # loads the policy head; checks the game as `snapshot/NAME` does
        self.meta, self.net, self.version = self.snapshot.meta, self.snapshot.net, self.snapshot.version
        self.value_net = load_value(self.snapshot.directory, self.meta)
        if self.value_net is None:
            raise SnapshotError(f"Snapshot {name} has no value head (value.pt), which puct needs for its leaf values; "
                                "take a snapshot of a learner that keeps its critic (PPO), or play it as "
                                f"snapshot/{name}.")
        self._views: dict[str, Any] = {}

    def check(self, game: GameInfo) -> str | None:
        return self.snapshot.check(game) or needs_two_player_deterministic(game, "puct")

    def act(self, state: Any, seat: int, rng: np.random.Generator, game: GameInfo,
            history: Sequence[tuple[int, int]]) -> int:
        return self.act_batch([{"state": state, "seat": seat, "rng": rng, "game": game, "history": history}])[0]

    def act_batch(self, calls: Sequence[Mapping[str, Any]]) -> list[int]:
        """Moves for many boards: their trees are searched side by side and their leaves evaluated together."""
        moves: list[int | None] = []
        trees = []
        for call in calls:
            legal = call["state"].legal_actions()
            moves.append(legal[0] if len(legal) == 1 else None)  # a forced move needs no search
            if len(legal) > 1:
                trees.append(_Tree(call["game"], call["state"], call["history"], call["rng"], self.simulations))
        for move in self.search(trees) if trees else ():
            moves[moves.index(None)] = move
        return moves  # type: ignore[return-value]

    def search(self, trees: list[_Tree]) -> list[int]:
        """Run every tree's simulations; the most visited move of each root, ties broken by its rng."""
        import torch

        threads = torch.get_num_threads()
        torch.set_num_threads(1)  # batches this small run faster on one thread, and several fight on a busy machine
        try:
            return self._search(trees)
        finally:
            torch.set_num_threads(threads)

    def _search(self, trees: list[_Tree]) -> list[int]:
        self._evaluate([(tree, tree.root, []) for tree in trees])
        if self.noise > 0:
            for tree in trees:
                root = tree.root
                eta = tree.rng.dirichlet([self.alpha] * len(root.priors))
                root.priors = [(1 - self.noise) * p + self.noise * e for p, e in zip(root.priors, eta)]
        active = trees
        while active:
            leaves: list[tuple[_Tree, _Node, list[tuple[_Node, int]]]] = []
            for tree in active:
                leaves += self._gather(tree)
            if leaves:
                self._evaluate(leaves)
            active = [tree for tree in active if tree.left > 0]
        moves = []
        for tree in trees:
            root = tree.root
            most = max(root.n)
            best = [a for a, n in zip(root.actions, root.n) if n == most]  # type: ignore[arg-type]
            moves.append(best[0] if len(best) == 1 else int(tree.rng.choice(best)))
        return moves

    def _gather(self, tree: _Tree) -> list[tuple[_Tree, _Node, list[tuple[_Node, int]]]]:
        """Up to `batch` leaves of one tree for the networks, virtual losses on their paths; simulations that end in
        a finished game are backed up at once."""
        leaves: list[tuple[_Tree, _Node, list[tuple[_Node, int]]]] = []
        waiting: set[int] = set()
        c_puct = self.c_puct
        while tree.left > 0 and len(leaves) < self.batch:
            node, path = tree.root, []
            while node.actions is not None:
                i = node.select(c_puct)
                path.append((node, i))
                node = node.child(i)
            if node.returns is not None:  # a finished game: its returns are the value
                for parent, i in path:
                    parent.n[i] += 1
                    parent.visits += 1
                _backup(path, node.returns)
                tree.left -= 1
                continue
            if id(node) in waiting:  # every way down leads to a leaf already on its way to the networks
                break
            waiting.add(id(node))
            _apply_virtual_loss(path)
            leaves.append((tree, node, path))
            tree.left -= 1
        return leaves

    def _evaluate(self, leaves: Sequence[tuple[_Tree, _Node, list[tuple[_Node, int]]]]) -> None:
        """One forward pass of each head over the leaves: expand each with its priors, back its value up its path."""
        import torch

        rows, legal = [], []
        for tree, node, path in leaves:
            view = self._view(tree.game)
            view.state = node.state
            history = tree.history + tuple((parent.player, parent.actions[i]) for parent, i in path)
            rows.append(features(tree.game, view.observation(node.player), history, node.player, self.version,
                                 node.state))
            legal.append(node.state.legal_actions())
        x = torch.from_numpy(np.stack(rows))
        with torch.inference_mode():
            logits = self.net(x).numpy().astype(np.float64)
            values = self.value_net(x)[:, 0].tolist()
        masked = np.full_like(logits, -np.inf)  # the softmax of the masked logits, all rows at once
        for k, actions in enumerate(legal):
            masked[k, actions] = logits[k, actions]
        priors = np.exp(masked - masked.max(axis=1, keepdims=True))
        priors /= priors.sum(axis=1, keepdims=True)
        for (_, node, path), actions, row, value in zip(leaves, legal, priors, values):
            node.expand(actions, row[actions].tolist(), value)
            if path:
                _backup(path, (value, -value) if node.player == 0 else (-value, value), undo=VIRTUAL_LOSS)

    def _view(self, game: GameInfo) -> Any:
        """The OpenSpiel adapter, used only to turn a search state into the observation the network was trained on."""
        view = self._views.get(game.env_id)
        if view is None:
            from arena.envs.openspiel import OpenSpielGame

            view = self._views[game.env_id] = OpenSpielGame(game.native_game, game.env_id)
        return view


@hookimpl
def register_policies(register):
    register("puct", PUCTPolicy,
             description="AlphaZero-style PUCT on a snapshot's policy and value heads "
                         "(snapshot=NAME, simulations=100, c_puct=2.0); two-player zero-sum OpenSpiel games.")
