"""League status: what `arena league status` and `list` (and later the web app) show, read from the store; and the
processes a killed league run left behind, found from its record in the store and stopped."""
from __future__ import annotations

from typing import Any

from arena import processes
from arena.errors import UnknownIdError
from arena.ratings import conservative
from arena.store import Store, return_board
from arena.store import leagues as state


def league_status(store: Store, name: str) -> dict[str, Any]:
    """Where a league stands: status, rounds done, time, evaluation games, the pool with conservative ratings."""
    row = state.get(store, name)
    if row is None:
        raise UnknownIdError("league", name, state.names(store), "arena league list")
    rounds = state.rounds(store, name)
    pool = state.pool(store, name, active_only=False)
    ratings = state.player_ratings(store, row["env"])
    matches = state.match_count(store, name)
    # a game with one side has no ratings: its players' mean returns in this league's games instead
    returns = {r["player"]: r for r in return_board(store, env=row["env"], league=name)}
    exploitable = exploitability_by_player(store, name, rounds)
    members = []
    for m in pool.members:
        rating = ratings.get(m.plays_as or "")
        mean = returns.get(m.plays_as or "")
        members.append({"id": m.id, "kind": m.kind, "role": m.role, "round": m.round, "plays_as": m.plays_as,
                        "iteration": m.iteration, "steps": m.steps, "parent": m.parent,
                        "rating": None if rating is None else round(conservative(rating.skill), 2),
                        "mean_return": None if mean is None else round(mean["mean_return"], 3),
                        "games": rating.games if rating else mean["games"] if mean else 0,
                        **({"exploitability": exploitable.get(m.plays_as or "")} if exploitable else {})})
    last = rounds[-1] if rounds else {}
    status, reason = row["status"], row["stop_reason"]
    if status == "running" and processes.here(row["run"]) and not processes.owner_alive(row["run"]):
        status, reason = "stopped", f"killed: its process {row['run']['pid']} is gone; continue with --resume"
    return {"league": name, "env": row["env"], "status": status, "stop_reason": reason,
            "rounds": sum(r["phase"] == "done" for r in rounds), "in_progress": last.get("phase") == "trained",
            "elapsed_min": round(row["elapsed_s"] / 60, 2), "matches": matches, "file": row["file"],
            "last_round": last, "members": members,
            "exploitability": [{"round": r["round"], **r["exploitability"]} for r in rounds if r.get("exploitability")],
            "exploitability_average": [{"round": r["round"], **r["exploitability_average"]} for r in rounds
                                       if r.get("exploitability_average")]}


def exploitability_by_player(store: Store, name: str, rounds: list[dict[str, Any]] | None = None) -> dict[str, float]:
    """Each learner copy's exploitability, as `[evaluation] exploitability` computed it in its round: {copy: value}."""
    rounds = state.rounds(store, name) if rounds is None else rounds
    return {info["copy"]: r["exploitability"][learner] for r in rounds for learner, info
            in r.get("learners", {}).items() if learner in (r.get("exploitability") or {})}


def stop_leftovers(store: Store, name: str) -> tuple[dict[str, Any] | None, list[list[Any]]]:
    """Stop the processes a killed run of league `name` started that are still running (Ray's raylet, GCS, workers),
    by their recorded pid and start time only. Returns the run's record and the processes stopped; a run whose own
    process is still alive is left alone."""
    row = state.get(store, name)
    run = row["run"] if row else None
    return run, processes.stop(processes.leftovers(run)) if run else []
