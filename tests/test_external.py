"""`arena train --external`: PPO on the episodes of a simulator outside Arena (examples/external_cartpole.py, a
gymnasium CartPole stepped in its own process) over RLlib's RLlink protocol; and the one-line refusals before Ray."""
from __future__ import annotations

import dataclasses
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from arena.errors import UsageError
from arena.registry import Registry
from arena.services import training
from arena.services.external import address, parse_external
from arena.services.progress import Progress
from arena.services.training import TrainRequest, train

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "external_cartpole.py"
CARTPOLE = "gymnasium/CartPole-v1"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("localhost", 0))
        return s.getsockname()[1]


def test_the_port_is_a_number_from_1_to_65535_with_an_optional_host():
    assert parse_external("5555") == ("localhost", 5555)
    assert parse_external(5555) == ("localhost", 5555)
    assert parse_external("0.0.0.0:6000") == ("0.0.0.0", 6000)
    assert parse_external("[::1]:6000") == ("::1", 6000)
    request = TrainRequest(env=CARTPOLE, external="[::1]:6000", resources={"num_env_runners": 3})
    assert address(request, "::1", 6000) == "[::1]:6000 to 6002"
    for bad in ("0", "65536", "-1", "port", "localhost:", ""):
        with pytest.raises(UsageError, match="from 1 to 65535"):
            parse_external(bad)


@pytest.mark.parametrize("request_, words", [
    (TrainRequest(env="openspiel/tic_tac_toe", external="FREE"), ["single-agent", "2 seats"]),
    (TrainRequest(env=CARTPOLE, external="70000"), ["from 1 to 65535"]),
    (TrainRequest(env=CARTPOLE, external="65535", resources={"num_env_runners": 2}), ["65536"]),
    (TrainRequest(env=CARTPOLE, external="FREE", algo="dqn"), ["ppo", "dqn"]),
    (TrainRequest(env=CARTPOLE, external="FREE", hyperparameters={"opening_plies": 2}), ["opening_plies"]),
    (TrainRequest(env=CARTPOLE, external="FREE", algo="bc"), ["--data"]),
    (TrainRequest(env=CARTPOLE, external="FREE", opponents={"random": 1.0}), ["no opponents"]),
], ids=["two-seats", "port-range", "ports-past-65535", "dqn", "env-setting", "offline", "opponents"])
def test_what_the_server_cannot_serve_is_one_line_before_ray(request_, words):
    if request_.external == "FREE":
        request_ = dataclasses.replace(request_, external=str(free_port()))
    with pytest.raises(UsageError) as caught:
        train(Registry(), None, request_)
    message = str(caught.value)
    assert "\n" not in message and all(w in message for w in words), message
    ray = sys.modules.get("ray")
    assert ray is None or not ray.is_initialized()


def test_create_learner_itself_refuses_what_the_server_cannot_serve():
    with pytest.raises(UsageError, match="--external trains ppo on RLlib's server EnvRunner; dqn is not wired"):
        training.create_learner(Registry(), "dqn", env=CARTPOLE, table={}, hyperparameters={}, hidden=(8,), seed=0,
                                resources={}, external=("localhost", free_port()))
    ray = sys.modules.get("ray")
    assert ray is None or not ray.is_initialized()


def test_a_port_in_use_is_one_line_before_ray():
    with socket.socket() as taken:
        taken.bind(("localhost", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        with pytest.raises(UsageError, match=f"Cannot listen for simulators on localhost:{port}: .*in use"):
            train(Registry(), None, TrainRequest(env=CARTPOLE, external=str(port)))
    ray = sys.modules.get("ray")
    assert ray is None or not ray.is_initialized()


def test_the_return_rises_on_a_cartpole_simulator_outside_arena(tmp_path, monkeypatch):
    """Arena listens, the example simulator connects from its own process, PPO trains on its episodes; the mean
    episode return of the last iterations beats the first's by far, and the final snapshot plays Arena's CartPole."""
    import ray

    iterations = 12
    returns: list[list[float]] = []  # each iteration's finished episodes, as the learner reported them
    real = training.create_learner

    def recording(*args, **kwargs):
        learner = real(*args, **kwargs)
        train_once = learner.train

        def train_and_record():
            result = train_once()
            returns.append(list(result["returns"]))
            return result

        learner.train = train_and_record
        return learner

    monkeypatch.setattr(training, "create_learner", recording)
    monkeypatch.setenv("ARENA_SNAPSHOTS", str(tmp_path / "snapshots"))
    lines: list[str] = []
    progress = Progress()
    progress.say = lines.append
    port = free_port()
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    started = time.monotonic()
    client = subprocess.Popen([sys.executable, str(EXAMPLE), "--port", str(port), "--seed", "1",
                               "--connect-timeout", "120"],
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        doc = train(Registry(), None, TrainRequest(env=CARTPOLE, external=str(port), stop_iterations=iterations,
                                                   stop_minutes=4, eval_games=10, name="ext",
                                                   snapshots=tmp_path / "snapshots"), progress=progress)
        output, _ = client.communicate(timeout=60)  # the learner stopped and closed the connection
    finally:
        if client.poll() is None:
            client.kill()  # the simulator this test started
            client.wait()
        ray.shutdown()
    seconds = time.monotonic() - started
    means = [float(np.mean(r)) for r in returns if r]
    first, last = means[0], float(np.mean([x for r in returns[-3:] for x in r]))
    print(f"mean return per iteration: {[round(m, 1) for m in means]}; first {first:.1f}, last three "
          f"{last:.1f}; final snapshot {doc['scores']['return']:.1f} over 10 games; {seconds:.0f} s")
    assert doc["iterations"] == iterations and doc["stop_reason"] == "iteration limit"
    assert doc["external"] == f"localhost:{port}" and doc["env_steps"] >= iterations * 2000
    assert first < 40  # a fresh policy balances the pole for about 20 steps
    assert last > first + 60 and last > 2.5 * first, means
    assert doc["scores"]["return"] > first + 60  # the snapshot plays Arena's own CartPole, without the simulator
    assert (tmp_path / "snapshots" / "ext-it12" / "weights.pt").is_file()
    assert any("episodes" in line and "return" in line for line in lines), lines
    assert client.returncode == 0 and "closed the connection" in output, output
