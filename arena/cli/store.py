"""CLI commands over the store: leaderboard, h2h, history, payoff and rating maintenance."""
from __future__ import annotations

from typing import Any

import click

from arena.errors import UsageError
from arena.output import emit, field, stdout_console
from arena.cli.options import FiniteFloatRange, db_option, output_options
from arena.services.payoff import ALPHA
from arena.services.recording import open_store

def _player(ctx: click.Context, store: Any, text: str) -> str:
    """A player id as stored: a policy spec is canonicalised first (mcts:simulations=100 is mcts)."""
    from arena.store import rankings
    from arena.errors import ArenaError

    try:
        text = ctx.find_root().obj.player_id(text)
    except ArenaError:
        pass  # not a registered policy: a snapshot or a player from a plugin that is not installed here
    return rankings.resolve_player(store, text)


STATS = [("Games", field("games")), ("W", field("wins")), ("D", field("draws")), ("L", field("losses"))]


METHOD_NAMES = {"trueskill": "TrueSkill", "bt": "Bradley-Terry", "nash": "Nash averaging"}


@click.command("leaderboard")
@click.option("--env", help="Only this game (default: every game in the store).")
@click.option("--league", help="Only players of this league.")
@click.option("--tournament", help="Only players of this tournament.")
@click.option("--method", type=click.Choice(list(METHOD_NAMES)), default="trueskill", show_default=True,
              help="TrueSkill (incremental), Bradley-Terry (fit over all stored games, 95% bootstrap intervals) or "
                   "Nash averaging (payoff against the max-entropy Nash mixture; invariant to redundant copies).")
@click.option("--top", type=click.IntRange(min=1), help="Only the best N of each game.")
@click.option("--inversions", "only_inversions", is_flag=True,
              help="List only the rank inversions: a lower-ranked player that beat a higher-ranked one head to head "
                   "(95% interval of its score above 0.5).")
@db_option()
@output_options
def leaderboard_cmd(env: str | None, league: str | None, tournament: str | None, method: str, top: int | None,
                    only_inversions: bool, db_path: str, fmt: str) -> None:
    """Rank the players of each game by rating, and flag the pairs that contradict the ranking."""
    from arena.store import rankings

    with open_store(db_path, readonly=True) as store:
        env = rankings.resolve_env(store, env) if env else None
        rows = rankings.leaderboard(store, env=env, league=league, tournament=tournament, method=method, top=top)
        returns = [] if only_inversions else rankings.return_board(store, env=env, league=league,
                                                                   tournament=tournament, top=top)
        exploitable = _league_exploitability(store, league) if league else {}
    if exploitable:  # a league with [evaluation] exploitability: each copy's, as computed in its round
        rows = [{**r, "exploitability": exploitable.get(r["player"])} for r in rows]
    inversions = rankings.inversions(rows)
    if returns and fmt != "table":  # JSON and CSV: one list, each entry with its `scored_by`
        return _return_board([{**r, "scored_by": "rating"} for r in rows], returns, fmt)
    if not rows and returns:  # only games with one side
        return _return_board([], returns, fmt)
    if not rows and fmt == "table":
        click.echo(f"No rated games in {db_path}" + (f" for {env}" if env else "") + ".", err=True)
        return
    envs = {r["env"] for r in rows}
    title = f"{next(iter(envs)) if len(envs) == 1 else 'all games'}: {METHOD_NAMES[method]}"
    if only_inversions:
        if not inversions and fmt == "table":
            click.echo("No rank inversions.", err=True)
            return
        cols = [("Player", field("player")), ("Rank", field("rank")), ("Beat", field("opponent")),
                ("Its rank", field("opponent_rank")), ("Score", field("score", ".3f")),
                ("95% CI", lambda r: f"[{r['lo']:.3f}, {r['hi']:.3f}]"), *STATS]
        if len(envs) > 1:
            cols.insert(0, ("Env", field("env")))
        return emit(inversions, cols, fmt, title=f"{title}: rank inversions",
                    right=["Rank", "Its rank", "Score", "Games", "W", "D", "L"])
    if fmt == "csv":  # one cell per list: the players each one beat
        rows = [{**r, "beats_higher": ";".join(b["player"] for b in r["beats_higher"])} for r in rows]
    if method == "bt":
        cols = [("Rank", field("rank")), ("Player", field("player")), ("BT Elo", field("bt", "+.0f")),
                ("95% CI", lambda r: f"[{field('bt_lo', '+.0f')(r)}, {field('bt_hi', '+.0f')(r)}]"), *STATS]
    elif method == "nash":
        cols = [("Rank", field("rank")), ("Player", field("player")), ("Nash Elo", field("nash", "+.0f")),
                ("Nash mass", field("nash_mass", ".3f")), *STATS]
    else:
        cols = [("Rank", field("rank")), ("Player", field("player")), ("μ", field("mu", ".2f")),
                ("σ", field("sigma", ".2f")), ("μ−3σ", field("conservative", ".2f")), *STATS,
                ("Last played (UTC)", lambda r: (r["last_played"] or "")[:19].replace("T", " "))]
    if exploitable:
        cols.append(("Exploitability", lambda r: "" if r["exploitability"] is None else f"{r['exploitability']:.4f}"))
    if inversions:
        cols.append(("Beat higher", lambda r: ", ".join(f"{b['player']} (#{b['rank']})" for b in r["beats_higher"])))
    if len(envs) > 1:
        cols.insert(1, ("Env", field("env")))
    emit(rows, cols, fmt, title=title,
         right=["Rank", "μ", "σ", "μ−3σ", "BT Elo", "Nash Elo", "Nash mass", "Games", "W", "D", "L", "Exploitability"])
    if returns:  # games with one side (one seat, or a cooperative team) are ranked by return, after the ratings
        click.echo("")
        _return_board([], returns, fmt)
    if fmt == "table" and inversions:  # in a pipe, as '#' lines like the title, so the rows stay a clean TSV
        terminal = stdout_console().is_terminal
        head, mark = ("\n", "  ") if terminal else ("# ", "# ")
        click.echo(f"{head}Rank inversions ({len(inversions)}): the lower-ranked player's score against the "
                   "higher-ranked one, 95% interval above 0.5")
        for r in inversions:
            click.echo(f"{mark}{r['player']} (rank {r['rank']}) beat {r['opponent']} (rank {r['opponent_rank']}): "
                       f"{r['score']:.2f} [{r['lo']:.2f}, {r['hi']:.2f}] over {r['games']} games"
                       + (f" ({r['env']})" if len(envs) > 1 else ""))


def _league_exploitability(store: Any, league: str) -> dict[str, float]:
    from arena.services.leagues import exploitability_by_player

    return exploitability_by_player(store, league)


def _return_board(rated: list[dict[str, Any]], returns: list[dict[str, Any]], fmt: str) -> None:
    """The return leaderboard (one-seat games, cooperative simulations); in JSON/CSV after the rated rows."""
    if fmt != "table":
        rows = rated + [{**r, "return_lo": r["return_ci95"][0], "return_hi": r["return_ci95"][1]} for r in returns]
        if fmt == "csv":  # every row with every column, so the header has them all
            rows = [{**r, "beats_higher": ";".join(b["player"] for b in r.get("beats_higher", []))} for r in rows]
            keys = list(dict.fromkeys(k for r in rows for k in r if k != "return_ci95"))
            rows = [{k: r.get(k) for k in keys} for r in rows]
        return emit(rows, [("Player", field("player"))], fmt)
    envs = {r["env"] for r in returns}
    cols = [("Rank", field("rank")), ("Player", field("player")), ("Mean return", field("mean_return", ".2f")),
            ("95% CI", lambda r: "" if r["return_ci95"][0] is None else
             f"[{r['return_ci95'][0]:.2f}, {r['return_ci95'][1]:.2f}]"), ("Games", field("games")),
            ("Last played (UTC)", lambda r: (r["last_played"] or "")[:19].replace("T", " "))]
    if len(envs) > 1:
        cols.insert(1, ("Env", field("env")))
    title = f"{next(iter(envs)) if len(envs) == 1 else 'games with one side'}: mean return"
    emit(returns, cols, fmt, title=title, right=["Rank", "Mean return", "Games"])


@click.command("h2h")
@click.argument("player")
@click.argument("opponent")
@click.option("--env", help="Only this game.")
@db_option()
@output_options
@click.pass_context
def h2h_cmd(ctx: click.Context, player: str, opponent: str, env: str | None, db_path: str, fmt: str) -> None:
    """PLAYER's head-to-head record against OPPONENT."""
    from arena.store import rankings

    with open_store(db_path, readonly=True) as store:
        a, b = _player(ctx, store, player), _player(ctx, store, opponent)
        env = rankings.resolve_env(store, env) if env else None
        rows = rankings.head_to_head(store, a, b, env)
    if not rows and fmt == "table":
        click.echo(f"{a} and {b} have not met" + (f" in {env}" if env else "") + ".", err=True)
        return
    emit(rows, [("Env", field("env")), *STATS, ("Score", field("score", ".3f"))], fmt, title=f"{a} against {b}",
         right=["Games", "W", "D", "L", "Score"])


@click.command("history")
@click.argument("player")
@click.option("--env", help="Only this game.")
@db_option()
@output_options
@click.pass_context
def history_cmd(ctx: click.Context, player: str, env: str | None, db_path: str, fmt: str) -> None:
    """PLAYER's TrueSkill rating after each rated game."""
    from arena.store import rankings

    with open_store(db_path, readonly=True) as store:
        who = _player(ctx, store, player)
        env = rankings.resolve_env(store, env) if env else None
        rows = rankings.history(store, who, env)
    emit(rows, [("Match #", field("seq")), ("Played at (UTC)", lambda r: r["played_at"][:19].replace("T", " ")),
                ("Env", field("env")),
                ("μ", field("mu", ".2f")), ("σ", field("sigma", ".2f")), ("μ−3σ", field("conservative", ".2f"))],
         fmt, title=f"{who}: rating history", right=["Match #", "μ", "σ", "μ−3σ"])


@click.command("payoff")
@click.option("--env", help="The game (needed when the store holds several).")
@click.option("--league", help="Only the players of this league (all their games against each other in its game).")
@click.option("--tournament", help="Only this tournament's players and games.")
@click.option("--nash", is_flag=True,
              help="The Nash mixture over the players of the zero-sum game score - 0.5 (a linear program), with each "
                   "player's score against it.")
@click.option("--alpharank", is_flag=True, help="α-Rank's stationary distribution over the players (OpenSpiel).")
@click.option("--alpha", type=FiniteFloatRange(min=0, min_open=True),
              help=f"α-Rank's selection intensity  [default: {ALPHA:g}]")
@db_option()
@output_options
@click.pass_context
def payoff_cmd(ctx: click.Context, env: str | None, league: str | None, tournament: str | None, nash: bool,
               alpharank: bool, alpha: float | None, db_path: str, fmt: str) -> None:
    """The win-rate matrix: each row player's score against each column player; or its meta-game: the Nash
    mixture (--nash) or the α-Rank ranking (--alpharank) of the players. A pair that never met counts as a tie."""
    from arena.services import payoff

    if nash and alpharank:
        raise UsageError("Pick one of --nash and --alpharank.")
    if alpha is not None and not alpharank:
        raise UsageError("--alpha goes with --alpharank.")
    with open_store(db_path, readonly=True) as store:
        table = payoff.payoff_table(store, env=env, league=league, tournament=tournament,
                                    registry=ctx.find_root().obj)
    scope = table.get("league") or table.get("tournament") or table["env"]
    if nash:
        return _nash_view(payoff.nash_view(table), scope, fmt)
    if alpharank:
        return _alpharank_view(payoff.alpharank_view(table, ALPHA if alpha is None else alpha), scope, fmt)
    if fmt == "json":
        return emit([table], [], "json")
    players = table["players"]
    rows = [{"player": p, **{q: table["score"][i][j] for j, q in enumerate(players)}} for i, p in enumerate(players)]
    cols = [("Row vs column", field("player")),
            *[(q, lambda r, q=q: "-" if r["player"] == q else field(q, ".2f")(r)) for q in players]]
    emit(rows, cols, fmt, title=f"{scope}: score of row vs column", right=players)


def _nash_view(doc: dict[str, Any], scope: str, fmt: str) -> None:
    if fmt == "json":
        return emit([doc], [], "json")
    cols = [("Player", field("player")), ("Mass", field("mass", ".3f")), ("Score vs mixture", field("score", ".3f")),
            ("Games", field("games"))]
    emit(doc["mixture"], cols, fmt, title=f"{scope}: Nash mixture of the zero-sum game score - 0.5 "
                                          f"(value {doc['value']:+.3f})", right=["Mass", "Score vs mixture", "Games"])
    if doc["also_in_equilibrium"]:
        _note(fmt, f"Other equilibria give mass to {', '.join(doc['also_in_equilibrium'])} too; this is one of them.")
    _notes(doc, fmt)


def _alpharank_view(doc: dict[str, Any], scope: str, fmt: str) -> None:
    if fmt == "json":
        return emit([doc], [], "json")
    cols = [("Rank", field("rank")), ("Player", field("player")), ("Mass", field("mass", ".3f")),
            ("Games", field("games"))]
    emit(doc["ranking"], cols, fmt, title=f"{scope}: α-Rank (α = {doc['alpha']:g}, population {doc['population']})",
         right=["Rank", "Mass", "Games"])
    _notes(doc, fmt)


def _notes(doc: dict[str, Any], fmt: str) -> None:
    """What the meta-game assumed: pairs that never met (ties), players left out."""
    missing = doc["missing_pairs"]
    if missing:
        shown = ", ".join(f"{a} v {b}" for a, b in missing[:5]) + (f" and {len(missing) - 5} more"
                                                                   if len(missing) > 5 else "")
        _note(fmt, f"{len(missing)} pair{'s' if len(missing) > 1 else ''} never met, counted as ties (0.5): {shown}.")
    if doc["left_out"]:
        _note(fmt, f"Left out, with no games against the others: {', '.join(doc['left_out'])}.")


def _note(fmt: str, text: str) -> None:
    """A line after a table: plain on a terminal, a '#' line in a pipe (the rows stay a clean TSV), none in CSV."""
    if fmt == "table":
        click.echo(text if stdout_console().is_terminal else f"# {text}")


@click.group("ratings")
def ratings_group() -> None:
    """Rating settings and maintenance."""


@ratings_group.command("set")
@click.argument("env")
@click.option("--draw-probability", type=FiniteFloatRange(0, 1, max_open=True))
@click.option("--beta", type=FiniteFloatRange(min=0, min_open=True))
@click.option("--tau", type=FiniteFloatRange(min=0))
@db_option()
def ratings_set(env: str, draw_probability: float | None, beta: float | None, tau: float | None, db_path: str) -> None:
    """Change ENV's TrueSkill settings and re-rate its stored games with them."""
    from arena.store import rankings

    changes = {k: v for k, v in {"draw_probability": draw_probability, "beta": beta, "tau": tau}.items()
               if v is not None}
    open_store(db_path, readonly=True).close()  # a store that is not there is not created here
    with open_store(db_path) as store:
        env = rankings.resolve_env(store, env)
        settings, changed = store.set_settings(env, changes)
        click.echo(f"{env}: {', '.join(f'{k}={v:g}' for k, v in settings.items())}; "
                   f"re-rated, {len(changed)} ratings changed.")


@ratings_group.command("rebuild")
@click.option("--env", help="Only this game.")
@click.option("--check", is_flag=True, help="Only compare: exit 1 if a rebuild would change any rating.")
@db_option()
def ratings_rebuild(env: str | None, check: bool, db_path: str) -> None:
    """Recompute every rating from the stored games, in the order they were stored."""
    from arena.store import rankings

    open_store(db_path, readonly=True).close()  # a store that is not there is not created here
    with open_store(db_path) as store:
        env = rankings.resolve_env(store, env) if env else None
        changed = store.rebuild(env, dry_run=check)
    if check and changed:
        click.echo(f"{len(changed)} ratings differ from a rebuild, e.g. {next(iter(changed))}.", err=True)
        raise SystemExit(1)
    click.echo(("Ratings equal a rebuild from the stored games." if check else
                f"Rebuilt; {len(changed)} ratings changed."))


COMMANDS = [leaderboard_cmd, h2h_cmd, history_cmd, payoff_cmd, ratings_group]
