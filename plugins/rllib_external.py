"""Training on simulators outside Arena (`arena train ENV --external [HOST:]PORT`): PPO on RLlib's server EnvRunner.

A simulator connects over TCP and speaks RLlib's RLlink protocol (ray.rllib.env.external.rllink: an 8-digit length
header, then a msgpack body; numpy arrays travel through msgpack-numpy). It asks for the algorithm's config
(GET_CONFIG, answered with the pickled AlgorithmConfig) and the weights (GET_STATE), builds the RLModule from the
config, acts with it itself, and sends its episodes (SingleAgentEpisode states) in batches of the config's rollout
fragment length with EPISODES_AND_GET_STATE, which blocks it until the learner has updated and the new weights come
back (on-policy PPO). RLlib 2.60's new API stack has no server-side inference. examples/external_cartpole.py is
such a simulator; RLlib's own is ray.rllib.examples.envs.classes.utils.dummy_external_client.

`ArenaExternalServer` is RLlib's `EnvRunnerServerForExternalInference` with these changes:

- it listens on the host it is given (RLlib's binds "localhost" only), and the EnvRunners of `--num-env-runners N`
  on PORT .. PORT+N-1 (RLlib's: PORT+1 .. PORT+N, with a local one on PORT that is never sampled);
- a port it cannot listen on, or episodes that do not fit the env's spaces, stop training with one line
  (RLlib's listener thread dies silently on the first, and its sample() then waits forever);
- it keeps each finished episode's return, summed over the chunks the episode was sent in, for Arena's progress
  lines and stop rule;
- its config goes to the simulator with RLlib's own EnvRunner class in it, so a simulator needs ray[rllib] and
  torch, not Arena;
- it prints nothing on stdout (RLlib's prints connection notices, which would spoil `--json`), and stop() ends its
  listener thread (RLlib's listens again after five seconds).

Served: one agent per simulator (SingleAgentEpisode: RLlib 2.60's server is single-agent), discrete actions, and
observations as Arena encodes the env's (arena.features: the flattened observation); the env given to `arena
train` supplies the spaces, and evaluates and rates the final snapshot, which plays anywhere like any other.
"""
from __future__ import annotations

import logging
import pickle
import socket
import time
from collections.abc import Mapping
from typing import Any

import numpy as np
from ray.rllib.env.external.env_runner_server_for_external_inference import EnvRunnerServerForExternalInference
from ray.rllib.env.external.rllink import RLlink, get_rllink_message, send_rllink_message

from arena.errors import UsageError

from .rllib_algorithms import Resources, Session, TrainSpec, defaults, game_info

logger = logging.getLogger(__name__)
RECONNECT_S = 0.5  # pause before listening again after a simulator went away (RLlib's: 5 s)


class ExternalSimulatorError(UsageError):
    """A simulator outside Arena cannot be served: its port cannot be listened on, or it sent episodes that do not
    fit the env's spaces."""


class _Stopped(Exception):
    """The listener thread ends: stop() was called, or the port cannot be listened on."""


def server_port(base: int, worker_index: int) -> int:
    """The port of an EnvRunner: the local one (index 0, when there are no remote ones) and remote one 1 on `base`,
    remote one i on base + i - 1."""
    return base + max(worker_index - 1, 0)


class ArenaExternalServer(EnvRunnerServerForExternalInference):
    """RLlib's server EnvRunner for external simulators (see the module's docstring for what differs).
    env_config: {"host", "port"}."""

    def __init__(self, *, config: Any, **kwargs: Any):
        # read by the listener thread, which RLlib's __init__ starts
        self.failure: str | None = None
        self._stopping = False
        self.returns: list[float] = []  # finished episodes' returns since take_returns()
        self._partial: dict[str, float] = {}  # episode id -> return of the chunks received so far
        super().__init__(config=config, **kwargs)

    def assert_healthy(self) -> None:
        """Healthy unless its port cannot be listened on (RLlib's asks for a listening socket, which is briefly
        missing while a simulator reconnects)."""
        assert self.failure is None, self.failure

    # -- the listener thread (RLlib's, without prints, with a way out) ----------------------------
    def _recycle_sockets(self, sleep: float = 0.0) -> None:
        self._close_sockets_if_necessary()
        self.client_socket = self.server_socket = None
        if sleep:
            time.sleep(sleep)
        if self._stopping:
            raise _Stopped
        host = str(self.config.env_config.get("host", "localhost"))
        self.host, self.port = host, server_port(int(self.config.env_config["port"]), self.worker_index)
        try:
            family, kind, proto, _, address = socket.getaddrinfo(host, self.port, type=socket.SOCK_STREAM)[0]
            server = socket.socket(family, kind, proto)
            server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            server.bind(address)
            server.listen(1)
        except OSError as e:
            self.failure = f"Cannot listen for simulators on {host}:{self.port}: {e.strerror or e}."
            raise _Stopped from None
        self.server_socket = server
        try:
            self.client_socket, self.address = server.accept()
        except OSError:  # stop() closed the server socket
            raise _Stopped from None
        logger.info("A simulator connected to %s:%s from %s.", host, self.port, self.address)

    def _client_message_listener(self) -> None:
        try:
            self._recycle_sockets()
            while not self._stopping:
                if self._blocked_on_state:  # until set_state sends the weights of the next iteration
                    time.sleep(0.01)
                    continue
                try:
                    msg_type, msg_body = get_rllink_message(self.client_socket)
                    if msg_type == RLlink.PING:
                        self._send_pong_message()
                    elif msg_type in (RLlink.EPISODES, RLlink.EPISODES_AND_GET_STATE):
                        try:
                            self._process_episodes_message(msg_type, msg_body)
                        except Exception as e:  # noqa: BLE001 (whatever RLlib fails on: the simulator's doing)
                            self.failure = (f"The simulator on port {self.port} sent episodes RLlib cannot read: "
                                            + " ".join(f"{type(e).__name__}: {e}".split())[:300])
                            break
                    elif msg_type == RLlink.GET_STATE:
                        self._send_set_state_message()
                    elif msg_type == RLlink.GET_CONFIG:
                        self._send_set_config_message()
                    else:
                        logger.warning("A simulator sent %s, which the new API stack's server does not serve; "
                                       "ignored.", msg_type)
                except (ConnectionError, OSError):
                    if self._stopping:
                        break
                    logger.warning("The simulator on port %s went away; listening for the next.", self.port)
                    self._blocked_on_state = False
                    self._recycle_sockets(RECONNECT_S)
        except _Stopped:
            pass

    def _send_set_state_message(self) -> None:
        try:
            super()._send_set_state_message()
        except (ConnectionError, OSError):  # from set_state (the driver's thread): the listener notices and goes on
            logger.warning("Could not send the weights to the simulator on port %s.", self.port)

    def _send_set_config_message(self) -> None:
        """The config with RLlib's own EnvRunner class in it: the simulator unpickles it without Arena."""
        config = self.config.copy(copy_frozen=False)
        config.env_runners(env_runner_cls=EnvRunnerServerForExternalInference)
        send_rllink_message(self.client_socket, {"type": RLlink.SET_CONFIG.name, "config": pickle.dumps(config)})

    # -- sampling ------------------------------------------------------------------------------------
    def sample(self, **kwargs: Any) -> Any:
        """Wait for a simulator's episodes (RLlib's), but stop with one line when the port could not be listened on,
        and check the episodes against the env's spaces."""
        while True:
            if self.failure:
                raise ExternalSimulatorError(self.failure)
            if not self.thread.is_alive():
                raise ExternalSimulatorError(f"The listener for simulators on port {self.port} has stopped (see the "
                                             "error above).")
            with self._sample_lock:
                if self._episode_chunks_to_return is not None:
                    break
            time.sleep(0.01)
        episodes = super().sample(**kwargs)
        for episode in episodes:
            self._check(episode)
            self._partial[episode.id_] = self._partial.get(episode.id_, 0.0) + float(episode.get_return())
            if episode.is_done:
                self.returns.append(self._partial.pop(episode.id_))
        return episodes

    def _check(self, episode: Any) -> None:
        obs_space, action_space = self.config.observation_space, self.config.action_space
        observations = np.asarray(episode.get_observations())
        actions = np.asarray(episode.get_actions())
        rewards = np.asarray(episode.get_rewards(), dtype=np.float64)
        problem = None
        if observations.shape[1:] != obs_space.shape:
            problem = (f"observations of shape {observations.shape[1:]}, where this env's are {obs_space.shape}: it "
                       "must send what Arena sees of the env given to `arena train` (its observation, flattened)")
        elif not np.isfinite(observations).all():
            problem = "observations that are not finite"
        elif actions.size and (actions.ndim != 1 or not np.isin(actions, np.arange(action_space.n)).all()):
            problem = f"actions outside 0..{action_space.n - 1}"
        elif not np.isfinite(rewards).all():
            problem = "rewards that are not finite"
        if problem:
            raise ExternalSimulatorError(f"The simulator on port {self.port} sent {problem}.")

    def take_returns(self) -> list[float]:
        """The returns of the episodes finished since the last call."""
        out, self.returns = self.returns, []
        return out

    def stop(self) -> None:
        self._stopping = True
        super().stop()


def external_config(spec: TrainSpec, host: str, port: int) -> Any:
    """Arena's PPO config (its defaults for games that reward every step, --hp, hidden sizes, resources, seed) on
    ArenaExternalServer EnvRunners, with the spaces of the env Arena knows: its feature vector and its actions."""
    import gymnasium as gym
    from ray.rllib.algorithms.ppo import PPOConfig

    from arena.features import feature_dim

    from .rllib_algorithms import _unknown_hyperparameters

    info = game_info(spec.env)
    problem = _unknown_hyperparameters("ppo", PPOConfig(), spec.hyperparameters)
    if problem:
        raise UsageError(problem)
    r = spec.resources
    return (
        PPOConfig()
        .environment(observation_space=gym.spaces.Box(-np.inf, np.inf, (feature_dim(info),), np.float32),
                     action_space=gym.spaces.Discrete(info.num_actions), env_config={"host": host, "port": port})
        .env_runners(env_runner_cls=ArenaExternalServer, num_env_runners=r.num_env_runners,
                     # with remote EnvRunners, a local one would only hold a port that nobody samples
                     create_local_env_runner=r.num_env_runners == 0)
        .rl_module(model_config={"fcnet_hiddens": list(spec.hidden), "head_fcnet_hiddens": []})
        .learners(num_learners=r.num_learners, num_gpus_per_learner=r.num_gpus_per_learner)
        .debugging(seed=spec.seed)
        .training(**{**defaults("ppo", info), **spec.hyperparameters})
    )


class ExternalSession(Session):
    """A PPO learner (arena.protocols.Learner) that trains on the episodes of simulators outside Arena: the
    EnvRunners are ArenaExternalServer, and the module is RLlib's default (unmasked: a simulator sends plain
    observations). Snapshots, save/load and restore are Session's."""

    def __init__(self, spec: TrainSpec, host: str, port: int):
        self.host, self.port = host, port
        r = spec.resources
        if r.torch_threads and r.num_learners == 0:  # the servers only wait on sockets: this process learns.
            import torch  # With remote servers and torch's 2 threads, a PPO update took 11 s instead of 0.3 s on 2

            torch.set_num_threads(r.torch_threads)  # busy cores (Session limits them with 0 EnvRunners only).
        super().__init__(spec)

    def _configure(self, spec: TrainSpec, info: Any) -> tuple[str, Any]:
        from ray.rllib.core import DEFAULT_MODULE_ID

        self.single = True
        return DEFAULT_MODULE_ID, external_config(spec, self.host, self.port)

    @classmethod
    def create_external(cls, params: Mapping[str, Any], *, env: str, host: str, port: int,
                        hyperparameters: Mapping[str, Any], hidden: tuple[int, ...], seed: int,
                        resources: Mapping[str, Any]) -> ExternalSession:
        """Refuses, before Ray starts, what the server cannot serve; then builds the learner."""
        problem = cls.check_external(params, hyperparameters)
        info = game_info(env)
        if not problem and info.num_seats != 1:
            problem = (f"--external serves one agent per simulator (RLlib 2.60's server is single-agent); "
                       f"{info.env_id} has {info.num_seats} seats.")
        if problem:
            raise UsageError(problem)
        return cls(TrainSpec(env=env, algo="ppo", table={}, hyperparameters=hyperparameters, hidden=tuple(hidden),
                             seed=seed, resources=Resources(**resources)), host, port)

    def train(self) -> dict[str, Any]:
        """One PPO iteration on the episodes the simulators sent; the returns of those that finished."""
        result = self.algo.train()
        self.iteration += 1
        sampled = float(result["env_runners"].get("num_env_steps_sampled", 0) or 0)
        self.env_steps += int(sampled) if sampled == sampled else 0
        returns = [r for batch in self.algo.env_runner_group.foreach_env_runner(
            lambda runner: runner.take_returns(), local_env_runner=True) for r in batch]
        return {"iteration": self.iteration, "env_steps": self.env_steps, "outcomes": {}, "illegal_actions": 0,
                "returns": returns}

    def set_table(self, table: Mapping[str, float]) -> None:
        """No opponents: the simulators play alone."""
