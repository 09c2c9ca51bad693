"""The Multi Particle Environments (package mpe2, PettingZoo Parallel API) as `mpe/...` simulations.

Competitive ones have two teams, derived from the world's `adversary` flags (adversaries, good agents); cooperative
ones have one team of everyone (envs/pettingzoo.py derives both). Their parameters pass through the id, for example
`mpe/simple_tag:num_adversaries=3,continuous_actions=true`; `draw_margin` is Arena's: teams whose mean returns lie
within it of each other draw (default 1.0, a tenth of one tag in simple_tag).
"""
from __future__ import annotations

import importlib
from typing import Any

from arena.errors import ParameterError
from arena.hookspecs import hookimpl

DRAW_MARGIN = 1.0

# Arena id suffix -> (cooperative?, description)
SCENARIOS = {
    "simple_tag_v3": (False, "Predators and prey: slow adversaries (3) chase fast good agents (1) around obstacles; "
                             "+10 to every adversary per tag, -10 to the prey tagged."),
    "simple_adversary_v3": (False, "One adversary and two good agents near two landmarks: the good agents hide which "
                                   "landmark is the target, the adversary tries to reach it."),
    "simple_push_v3": (False, "One adversary pushes one good agent away from its landmark."),
    "simple_world_comm_v3": (False, "Adversaries with a talking leader hunt good agents that hide in forests and "
                                    "gather food."),
    "simple_spread_v3": (True, "Cooperative: 3 agents cover 3 landmarks without colliding."),
    "simple_speaker_listener_v4": (True, "Cooperative: a speaker tells a listener which landmark to go to."),
    "simple_reference_v3": (True, "Cooperative: two agents each tell the other where to go."),
}


def make(name: str, draw_margin: float = DRAW_MARGIN, **params: Any) -> Any:
    """A Parallel API env from mpe2, its parameters checked against the scenario's."""
    import inspect

    module = importlib.import_module(f"mpe2.{name}")
    known = inspect.signature(module.raw_env.__init__).parameters
    unknown = sorted(set(params) - set(known) - {"self"})
    if unknown or "render_mode" in params:
        accepted = ", ".join(sorted(k for k in known if k not in ("self", "render_mode", "benchmark_data")))
        raise ParameterError(f"mpe/{name} has no parameter {', '.join(unknown or ['render_mode'])} "
                             f"(it takes: {accepted}, draw_margin).")
    if not isinstance(draw_margin, (int, float)) or isinstance(draw_margin, bool) or draw_margin < 0:
        raise ParameterError(f"draw_margin must be a number >= 0, got {draw_margin!r}.")
    env = module.parallel_env(**params)
    env.arena_draw_margin = float(draw_margin)
    return env


@hookimpl
def register_envs(register):
    for name, (cooperative, description) in SCENARIOS.items():
        kind = "cooperative simulation" if cooperative else "competitive simulation"
        register(f"mpe/{name}", make, description=f"{description} ({kind}, 25 steps)", params={"name": name})
