"""Heuristic players for the Multi Particle simulations (mpe/...): chase, flee and spread.

Each reads the particle world (the `state` argument: positions and velocities of every agent and landmark) and steers
its agent with a damped pull toward a point: with discrete actions it pushes along the axis that needs it most, with
continuous ones it pushes along both. Played as a whole team, it acts for each teammate from that teammate's place.
A heuristic asked to play the other side (seats rotate in a match) holds still (action 0).
"""
from __future__ import annotations

from typing import Any

import numpy as np

from arena.hookspecs import hookimpl
from arena.types import GameInfo

DAMPING = 0.5  # seconds of the agent's own velocity to take off the pull, so it brakes instead of overshooting
BOUND = 0.8  # the prey is penalised beyond 0.9 of the arena's half-width: flee back inward before that


def _me(state: Any, game: GameInfo, seat: int) -> Any:
    name = game.seat_names[seat]
    return next(a for a in state.agents if a.name == name)


def steer(pull: np.ndarray, game: GameInfo, seat: int) -> Any:
    """The action that pushes the agent along `pull` (a 2-d vector): MPE's [none, left, right, down, up]."""
    if game.continuous(seat):
        space = game.action_spaces[seat]
        action = np.zeros(space.shape, dtype=space.dtype)
        scale = max(float(np.abs(pull).max()), 1e-9)
        x, y = pull / scale
        action[1], action[2] = max(-x, 0.0), max(x, 0.0)
        action[3], action[4] = max(-y, 0.0), max(y, 0.0)
        return action
    if not np.any(pull):
        return 0
    axis = int(np.argmax(np.abs(pull)))
    return (1 + (pull[axis] > 0)) if axis == 0 else (3 + (pull[axis] > 0))


def _toward(me: Any, point: np.ndarray) -> np.ndarray:
    return point - me.state.p_pos - DAMPING * me.state.p_vel


def _check(game: GameInfo) -> str | None:
    if not game.env_id.startswith("mpe/"):
        return "it plays the Multi Particle simulations (mpe/...) only"
    return None


class Chase:
    """Adversaries run at the nearest good agent, aiming where it will be (its velocity times the time to reach it)."""

    def check(self, game: GameInfo) -> str | None:
        return _check(game)

    def act(self, state: Any, game: GameInfo, seat: int) -> Any:
        me = _me(state, game, seat)
        prey = [a for a in state.agents if not getattr(a, "adversary", False)]
        if not getattr(me, "adversary", False) or not prey:
            return steer(np.zeros(2), game, seat)
        target = min(prey, key=lambda a: float(np.sum((a.state.p_pos - me.state.p_pos) ** 2)))
        distance = float(np.linalg.norm(target.state.p_pos - me.state.p_pos))
        lead = target.state.p_pos + target.state.p_vel * min(distance / max(me.max_speed or 1.0, 1e-3), 0.5)
        return steer(_toward(me, lead), game, seat)


class Flee:
    """Good agents run from the adversaries (each weighted by 1/distance squared) and back inward near the edge."""

    def check(self, game: GameInfo) -> str | None:
        return _check(game)

    def act(self, state: Any, game: GameInfo, seat: int) -> Any:
        me = _me(state, game, seat)
        hunters = [a for a in state.agents if getattr(a, "adversary", False)]
        if getattr(me, "adversary", False) or not hunters:
            return steer(np.zeros(2), game, seat)
        pull = np.zeros(2)
        for a in hunters:
            away = me.state.p_pos - a.state.p_pos
            pull += away / max(float(np.sum(away ** 2)), 1e-4)
        pull = pull / max(float(np.linalg.norm(pull)), 1e-9)
        outside = np.abs(me.state.p_pos) > BOUND
        pull = np.where(outside, -np.sign(me.state.p_pos) * 2.0, pull) - DAMPING * me.state.p_vel
        return steer(pull, game, seat)


class Spread:
    """Cooperative covering: agents are assigned to landmarks greedily (the closest free pair first, the same
    assignment for every agent) and each goes to its own."""

    def check(self, game: GameInfo) -> str | None:
        return _check(game)

    def act(self, state: Any, game: GameInfo, seat: int) -> Any:
        me = _me(state, game, seat)
        movers = [a for a in state.agents if a.movable]
        marks = [m for m in state.landmarks if not getattr(m, "boundary", False)]
        if not marks:
            return steer(np.zeros(2), game, seat)
        pairs = sorted((float(np.sum((a.state.p_pos - m.state.p_pos) ** 2)), i, j)
                       for i, a in enumerate(movers) for j, m in enumerate(marks))
        taken_agents: set[int] = set()
        taken_marks: set[int] = set()
        mine = movers.index(me) if me in movers else -1
        for _, i, j in pairs:
            if i in taken_agents or j in taken_marks:
                continue
            if i == mine:
                return steer(_toward(me, marks[j].state.p_pos), game, seat)
            taken_agents.add(i)
            taken_marks.add(j)
            if len(taken_marks) == len(marks):  # more agents than landmarks: the rest go to the nearest one
                taken_marks.clear()
        return steer(np.zeros(2), game, seat)


@hookimpl
def register_policies(register):
    register("mpe-chase", Chase, description="Multi Particle adversaries run at the nearest good agent (others hold).")
    register("mpe-flee", Flee, description="Multi Particle good agents run from the adversaries, inside the arena.")
    register("mpe-spread", Spread, description="Multi Particle agents cover the landmarks, assigned greedily.")
