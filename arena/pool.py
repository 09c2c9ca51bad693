"""A league's policy pool and payoff table: plain values that matchmakers read and the scheduler keeps in the store.

Member ids are the policy specs that play them (`random`, `mcts:simulations=50`, `snapshot/NAME`), except learners,
whose id is their name in the league; a learner plays as its latest frozen copy (`Member.policy`).
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

FIXED, SNAPSHOT, LEARNER = "fixed", "snapshot", "learner"
ROLES = ("main", "main_exploiter", "league_exploiter")
SELF = "self"  # an opponent-table entry: the learner plays itself (latest self-play)


@dataclass(frozen=True)
class Member:
    id: str
    kind: str  # FIXED | SNAPSHOT | LEARNER
    learner: str | None = None  # the learner a snapshot was frozen from (a learner's own name for a learner)
    role: str | None = None  # that learner's role
    round: int = 0  # the round a snapshot was frozen in; a learner's rounds trained
    parent: str | None = None  # lineage: the snapshot this one was trained on from
    iteration: int = 0
    steps: int = 0
    policy: str | None = None  # what plays it: the id itself, or a learner's latest frozen copy (None: not yet)

    @property
    def plays_as(self) -> str | None:
        return self.policy if self.kind == LEARNER else self.id


@dataclass(frozen=True)
class Pool:
    members: tuple[Member, ...] = ()

    def learners(self, role: str | None = None) -> list[Member]:
        return [m for m in self.members if m.kind == LEARNER and (role is None or m.role == role)]

    def fixed(self) -> list[Member]:
        return [m for m in self.members if m.kind == FIXED]

    def snapshots(self, learner: str | None = None, role: str | None = None) -> list[Member]:
        """Frozen snapshots, oldest first; optionally only one learner's or one role's."""
        found = [m for m in self.members if m.kind == SNAPSHOT and (learner is None or m.learner == learner)
                 and (role is None or m.role == role)]
        return sorted(found, key=lambda m: (m.round, m.id))

    def get(self, id: str) -> Member | None:
        return next((m for m in self.members if m.id == id), None)

    def opponents(self, learner: Member) -> list[Member]:
        """Everything `learner` can be matched with besides itself: fixed players, snapshots, and the other
        learners that have a frozen copy to play as."""
        return [m for m in self.members if m.id != learner.id and m.plays_as is not None]


@dataclass
class Payoff:
    """Decayed win rates of each learner against each opponent (by the spec it played as), from training episodes.

    `update` multiplies a pair's old evidence by `decay` before adding new scores, so a learner's recent games count
    most (AlphaStar's payoff with decay); an unseen pair has win rate `prior`.
    """

    decay: float = 0.99
    prior: float = 0.5
    table: dict[tuple[str, str], tuple[float, float]] = field(default_factory=dict)  # (score sum, games), decayed

    def update(self, learner: str, opponent: str, scores: Iterable[float]) -> None:
        scores = list(scores)
        won, games = self.table.get((learner, opponent), (0.0, 0.0))
        self.table[(learner, opponent)] = (won * self.decay + sum(scores), games * self.decay + len(scores))

    def win_rate(self, learner: str, opponent: str) -> float:
        won, games = self.table.get((learner, opponent), (0.0, 0.0))
        return won / games if games > 0 else self.prior

    def games(self, learner: str, opponent: str) -> float:
        return self.table.get((learner, opponent), (0.0, 0.0))[1]

    @classmethod
    def from_rows(cls, rows: Iterable[Mapping[str, object]], decay: float = 0.99) -> Payoff:
        payoff = cls(decay=decay)
        for r in rows:
            payoff.table[(str(r["learner"]), str(r["opponent"]))] = (float(r["score"]), float(r["games"]))  # type: ignore[arg-type]
        return payoff

    def rows(self) -> list[dict[str, object]]:
        return [{"learner": a, "opponent": b, "score": s, "games": n} for (a, b), (s, n) in sorted(self.table.items())]
