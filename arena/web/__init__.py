"""The web app of `arena serve`: leaderboards, players, payoff heatmaps, leagues, tournaments, games and replays as
pages with JSON twins under /api/, and games against an agent in the browser. Built on the same store queries and
services as the CLI; every script and style it serves is in static/, so pages work offline."""
from __future__ import annotations

from arena.web.app import create_app

__all__ = ["create_app"]
