"""An external simulator for `arena train --external`: gymnasium's CartPole, stepped here, outside Arena, and
connected to Arena's learner over TCP with RLlib's RLlink protocol (RLlib 2.60's documented client path, as in
ray.rllib.examples.envs.classes.utils.dummy_external_client).

    arena train gymnasium/CartPole-v1 --external 5555 --stop-iterations 20
    python examples/external_cartpole.py --port 5555          # in another terminal, in either order

The simulator asks the server for the algorithm's config (the pickled AlgorithmConfig: trust the server you connect
to) and its weights, builds the RLModule from the config, and acts with it itself, sampling from the policy. Every
`rollout_fragment_length` steps it sends its episodes (SingleAgentEpisode states, msgpack with numpy arrays) and
waits for the weights the learner has updated with them: PPO learns on-policy. It sends observations as Arena sees
the env given to `arena train` (for CartPole, its four numbers as they are; a Discrete observation would be one-hot).
When the learner stops it closes the connection, and the simulator ends.

Needs ray[rllib], torch, gymnasium and msgpack-numpy; not Arena.
"""
from __future__ import annotations

import argparse
import pickle
import socket
import sys
import time

import gymnasium as gym
import numpy as np


def connect(host: str, port: int, timeout_s: float) -> socket.socket:
    """A socket connected to the learner, retrying while it starts (Ray and RLlib take a while)."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            return socket.create_connection((host, port))
        except OSError:
            if time.monotonic() > deadline:
                sys.exit(f"No learner listening on {host}:{port} after {timeout_s:g} s.")
            time.sleep(0.5)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="localhost")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--env", default="CartPole-v1", help="A gymnasium id with a Box observation and Discrete "
                                                            "actions (what the learner's env has)")
    parser.add_argument("--connect-timeout", type=float, default=300.0, help="Seconds to wait for the learner")
    args = parser.parse_args()

    import torch
    from ray.rllib.core import COMPONENT_RL_MODULE, Columns
    from ray.rllib.env.external.rllink import RLlink, get_rllink_message, send_rllink_message
    from ray.rllib.env.single_agent_episode import SingleAgentEpisode

    torch.set_num_threads(1)  # one small network, one observation at a time
    rng = np.random.default_rng(args.seed)
    sock = connect(args.host, args.port, args.connect_timeout)

    def ask(kind: RLlink, answer: RLlink, **body) -> dict:
        send_rllink_message(sock, {"type": kind.name, **body})
        got, message = get_rllink_message(sock)
        if got != answer:
            raise ConnectionError(f"expected {answer.name}, got {got}")
        return message

    try:
        ask(RLlink.PING, RLlink.PONG)
        config = pickle.loads(ask(RLlink.GET_CONFIG, RLlink.SET_CONFIG)["config"])
        module = config.get_rl_module_spec().build()
        module.set_state(ask(RLlink.GET_STATE, RLlink.SET_STATE)["state"][COMPONENT_RL_MODULE])
        fragment = config.get_rollout_fragment_length()
        print(f"Connected to {args.host}:{args.port}; sending {fragment} steps at a time.", flush=True)

        env = gym.make(args.env)
        obs, _ = env.reset(seed=args.seed)
        episode = SingleAgentEpisode(observations=[obs])
        batch, finished, steps, total = [episode], [], 0, 0.0  # total: the return of the episode so far
        while True:
            with torch.no_grad():
                logits = module.forward_exploration({Columns.OBS: torch.as_tensor(np.array([obs], np.float32))})
            logits = logits[Columns.ACTION_DIST_INPUTS][0].numpy()
            probs = np.exp(logits - logits.max())
            probs /= probs.sum()
            action = int(rng.choice(len(probs), p=probs))
            obs, reward, terminated, truncated, _ = env.step(action)
            outputs = {Columns.ACTION_DIST_INPUTS: logits, Columns.ACTION_LOGP: float(np.log(probs[action]))}
            episode.add_env_step(observation=obs, action=action, reward=float(reward), terminated=terminated,
                                 truncated=truncated, extra_model_outputs=outputs)
            steps, total = steps + 1, total + float(reward)
            if episode.is_done:
                finished.append(total)
            if steps == fragment:  # send the batch, wait for the weights trained on it
                state = ask(RLlink.EPISODES_AND_GET_STATE, RLlink.SET_STATE,
                            episodes=[e.get_state() for e in batch], timesteps=steps)["state"]
                module.set_state(state[COMPONENT_RL_MODULE])
                if finished:
                    print(f"sent {steps} steps, {len(finished)} episodes finished, mean return "
                          f"{np.mean(finished):.1f}", flush=True)
                batch, finished, steps = [], [], 0
                if not episode.is_done:  # the rest of this episode goes in the next batch
                    episode = episode.cut()
                    batch.append(episode)
            if episode.is_done:
                obs, _ = env.reset(seed=int(rng.integers(2**31)))
                episode, total = SingleAgentEpisode(observations=[obs]), 0.0
                batch.append(episode)
    except ConnectionError:
        print("The learner closed the connection; done.", flush=True)
    finally:
        sock.close()


if __name__ == "__main__":
    main()
