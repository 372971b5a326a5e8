"""The jax backend's MiniGrid: xminigrid's dynamics with MiniGrid's pixels, and SB3's CNN DQN."""

from __future__ import annotations

import dataclasses

import gymnasium as gym
import jax
import jax.numpy as jnp
import minigrid
import numpy as np
import pytest
import torch
from minigrid.wrappers import ImgObsWrapper, RGBImgPartialObsWrapper

from hpobench_rl_cl.trainers.rl.jax import common, dqn
from hpobench_rl_cl.trainers.rl.jax.minigrid import make_minigrid
from hpobench_rl_cl.trainers.rl.spec import RLTrainSpec

ENV_ID = "MiniGrid-Empty-5x5-v0"


def _pixels(env, obs) -> np.ndarray:
    return np.asarray(jnp.round(env.network_input(obs) * 255)).astype(np.uint8)


@pytest.mark.slow
def test_minigrid_steps_and_pixels_equal_gymnasiums():
    """Same actions -> the same RGB partial view (the SB3 backend's observation) pixel for pixel, the
    same rewards, terminations, time-limit truncations and terminal observations: a first episode
    that never moves forward runs into the time limit, a random walk then reaches the goal."""
    gym.register_envs(minigrid)
    env = make_minigrid(ENV_ID)
    reference = ImgObsWrapper(RGBImgPartialObsWrapper(gym.make(ENV_ID), tile_size=8))
    step, pixels = jax.jit(env.step), jax.jit(lambda obs: env.network_input(obs))
    obs, state = env.reset(jax.random.PRNGKey(0))
    expected, _ = reference.reset(seed=0)
    rng, endings = np.random.default_rng(0), {"terminated": 0, "truncated": 0}
    for t in range(400):
        assert np.array_equal(np.asarray(jnp.round(pixels(obs) * 255)).astype(np.uint8), expected), f"step {t}"
        turns_only = [0.3, 0.3, 0.0, 0.1, 0.1, 0.1, 0.1]  # everything but forward
        action = int(rng.choice(7, p=turns_only if t < 100 else [0.2, 0.2, 0.45, 0.05, 0.04, 0.03, 0.03]))
        result = step(jax.random.PRNGKey(t), state, action)
        expected, reward, terminated, truncated, _ = reference.step(action)
        assert float(result.reward) == pytest.approx(reward, abs=1e-6)
        assert bool(result.terminated) == terminated and bool(result.truncated) == (truncated and not terminated)
        if terminated or truncated:
            endings["terminated" if terminated else "truncated"] += 1
            assert np.array_equal(_pixels(env, result.final_obs), expected), "the terminal observation"
            expected, _ = reference.reset()
        obs, state = result.obs, result.state
    assert endings["truncated"] == 1 and endings["terminated"] > 0


@pytest.mark.slow
def test_dqn_cnn_q_values_are_sb3s():
    """SB3's DQN CnnPolicy (NatureCNN, no hidden layers after it) holding the jax parameters gives the
    same Q-values on MiniGrid's images; the im2col convolution equals XLA's."""
    from stable_baselines3 import DQN

    gym.register_envs(minigrid)
    env = make_minigrid(ENV_ID)
    spec = RLTrainSpec(ENV_ID, "DQN", "CnnPolicy", 1, 1, 0.0)
    shape, _, _ = dqn.split_config({"policy": "CnnPolicy"}, spec, 1000)
    assert shape.cnn and shape.net_arch == (), "SB3: CnnPolicy's QNetwork has no layers after NatureCNN"
    params = dqn.init_params(jax.random.PRNGKey(0), shape, env)
    first, state = jax.jit(env.reset)(jax.random.PRNGKey(0))
    observations, step = [first], jax.jit(env.step)
    for action in (1, 2, 2, 0, 2):
        result = step(jax.random.PRNGKey(action), state, action)
        observations.append(result.obs)
        state = result.state
    obs = jnp.stack(observations)

    images = env.network_input(obs)
    for w, _ in params["features"][:3]:
        stride = next(s for f, k, s in common.NATURE_CNN if k == w.shape[0])
        expected = jax.lax.conv_general_dilated(images, w, (stride, stride), "VALID",
                                                dimension_numbers=("NHWC", "HWIO", "NHWC"))
        np.testing.assert_allclose(common._convolve(images, w, stride), expected, rtol=1e-5, atol=1e-5)
        images = jax.nn.relu(expected)

    model = DQN("CnnPolicy", ImgObsWrapper(RGBImgPartialObsWrapper(gym.make(ENV_ID), tile_size=8)), device="cpu",
                buffer_size=10)
    convs = [m for m in model.q_net.features_extractor.cnn if isinstance(m, torch.nn.Conv2d)]
    fc, head = model.q_net.features_extractor.linear[0], model.q_net.q_net[0]
    with torch.no_grad():
        for conv, (w, b) in zip(convs, params["features"][:3]):
            conv.weight.copy_(torch.tensor(np.asarray(w).transpose(3, 2, 0, 1)))
            conv.bias.copy_(torch.tensor(np.asarray(b)))
        w, b = params["features"][3]  # rows in (h, w, c) order; torch flattens (c, h, w)
        fc.weight.copy_(torch.tensor(np.asarray(w).reshape(3, 3, 64, -1).transpose(3, 2, 0, 1).reshape(-1, 576)))
        fc.bias.copy_(torch.tensor(np.asarray(b)))
        head.weight.copy_(torch.tensor(np.asarray(params["q"][0][0]).T))
        head.bias.copy_(torch.tensor(np.asarray(params["q"][0][1])))
        pixels = torch.tensor(_pixels(env, obs)).permute(0, 3, 1, 2)  # what VecTransposeImage hands SB3
        expected = model.q_net(model.policy.obs_to_tensor(pixels.numpy())[0])
    q_values = jax.jit(lambda p, o: dqn.q_values(p, o, shape, env))(params, obs)
    np.testing.assert_allclose(q_values, expected.numpy(), rtol=1e-4, atol=1e-5)


def test_cnn_policy_needs_images_and_minigrid_is_dqns():
    from hpobench_rl_cl.errors import ProtocolError
    from hpobench_rl_cl.protocol import read_protocol
    from hpobench_rl_cl.trainers.rl.jax.backend import JaxBackend

    with pytest.raises(ValueError, match="CnnPolicy needs image observations"):
        dqn.split_config({"policy": "CnnPolicy"}, RLTrainSpec("CartPole-v1", "DQN", "CnnPolicy", 1, 1, 0.0), 1000)
    protocol = read_protocol("dqn-minigrid-jax", "smoke")
    JaxBackend().check_protocol(protocol)
    sampled = dict(protocol.search_space(seed=0).sample_configuration())
    shape, _, _ = dqn.split_config(sampled, protocol.train_specs("cpu")["tuning"], 1000)
    assert shape.cnn, "a tuned configuration names no policy: it trains the protocol's CnnPolicy, as on SB3"
    with pytest.raises(ProtocolError, match="trains DQN on MiniGrid"):
        JaxBackend().check_protocol(dataclasses.replace(protocol, algorithm="PPO"))
