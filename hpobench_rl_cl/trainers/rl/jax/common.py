"""What every jax algorithm shares: a trial as (setup, iteration, act), its learning curve as one
pure function of (hyperparameters, key, evaluation key), SB3's conventions for schedules, network
names, gradient clipping and learning-curve checkpoints, and the deterministic evaluation."""

from __future__ import annotations

import math
from dataclasses import replace
from typing import Any, Callable, Mapping, NamedTuple, Sequence

import jax
import jax.numpy as jnp
import numpy as np
import optax

from .envs import JaxEnv

EVAL_SEED_OFFSET = 1_000_000
#: What a trial's carry holds of its environment and random stream (a PBT member keeps its own when
#: it copies another member's learner).
ENVIRONMENT_FIELDS = frozenset({"obs", "env_state", "starts", "key"})
ACTIVATIONS: dict[str, Callable[[jax.Array], jax.Array]] = {"tanh": jnp.tanh, "relu": jax.nn.relu}
_SCHEDULE_PREFIX = "lin_"


class RunLength(NamedTuple):
    """How long a trial's loops run, which sets no array's shape: every trial's ``hyper.run``, one
    value for a whole batch, given to the compiled code at call time. One compiled shape so serves
    every run length (a multi-fidelity tool's rungs) and every PPO epoch count; compiling once per
    value made DEHB's first bracket on the paper's PPO space compile some 300 times."""

    total_timesteps: jax.Array  # the run's env steps (the schedules' and epsilon's progress)
    eval_after: jax.Array  # iterations done before each learning-curve evaluation (the last: all)
    n_epochs: jax.Array  # PPO's passes over each rollout (1 for the off-policy algorithms)

    @classmethod
    def of(cls, shape: Any) -> "RunLength":
        return cls(jnp.int32(shape.total_timesteps), jnp.array(shape.eval_after, jnp.int32),
                   jnp.int32(getattr(shape, "n_epochs", 1)))


#: The shape fields :class:`RunLength` carries at call time instead.
RUN_LENGTH_FIELDS = ("total_timesteps", "eval_after", "n_epochs")


def compiled_shape(shape: Any) -> Any:
    """``shape`` with its :class:`RunLength` fields blanked: the key its code compiles under (the
    batch key stays the whole shape, so a call's trials share their run length)."""
    blank = {name: (0,) * len(value) if isinstance(value, tuple) else 0
             for name in RUN_LENGTH_FIELDS if (value := getattr(shape, name, None)) is not None}
    return replace(shape, **blank)


def progress_remaining(timesteps: jax.Array, run: RunLength) -> jax.Array:
    """SB3's ``1 - num_timesteps / total_timesteps``, as the multiplication by a float32 reciprocal that
    XLA makes of a division by a constant: the same bits as when the length was compiled in."""
    return 1.0 - timesteps.astype(jnp.float32) * (1.0 / run.total_timesteps.astype(jnp.float32))


def stacked(trees: Sequence[Any]) -> Any:
    """Trees of one structure as one tree whose leaves gain a leading trial axis."""
    return jax.tree.map(lambda *leaves: jnp.stack(leaves), *trees)


def stacked_batch(hypers: Sequence[Any]) -> tuple[Any, Any]:
    """A call's per-trial values stacked along a leading trial axis with its one shared ``run``, and
    ``vmap``'s ``in_axes`` for them (``run`` unbatched: its loops stay loops, not masked selects)."""
    per_trial = stacked([h._replace(run=None) for h in hypers])
    axes = jax.tree.map(lambda _: 0, per_trial)
    return per_trial._replace(run=hypers[0].run), axes


class Trainer(NamedTuple):
    """One trial of one shape, written as if alone (the backend vmaps it over a batch):
    ``setup(hyper, key)`` the initial carry, ``iteration(hyper, carry)`` one rollout and the updates
    that follow it, ``act(carry, obs)`` the deterministic policy's action for one observation."""

    env: JaxEnv
    setup: Callable[[Any, jax.Array], Any]
    iteration: Callable[[Any, Any], Any]
    act: Callable[[Any, jax.Array], jax.Array]


def learning_curve(trainer: Trainer, eval_episodes: int) -> Callable[[Any, jax.Array, jax.Array], jax.Array]:
    """``train(hyper, key, eval_key) -> scores``: the whole trial, one score per checkpoint
    (``hyper.run.eval_after``).

    One segment per learning-curve point: its iterations (a loop whose length is the same for every
    trial of a batch, so it stays a loop under vmap), then an evaluation. The graph holds one
    iteration and one evaluation whatever the number of points, which keeps compilation short.
    """

    def train(hyper: Any, key: jax.Array, eval_key: jax.Array) -> jax.Array:
        segments = jnp.diff(hyper.run.eval_after, prepend=0)

        def segment(carry: Any, iterations: jax.Array) -> tuple[Any, jax.Array]:
            carry = jax.lax.fori_loop(0, iterations, lambda _, c: trainer.iteration(hyper, c), carry)
            policy = lambda obs: trainer.act(carry, obs)  # noqa: E731
            return carry, evaluate_policy(trainer.env, policy, eval_key, eval_episodes)

        _, scores = jax.lax.scan(segment, trainer.setup(hyper, key), segments)
        return scores

    return train


def evaluate_policy(env: JaxEnv, act: Callable[[jax.Array], jax.Array], key: jax.Array, episodes: int) -> jax.Array:
    """Mean return of ``act`` over ``episodes`` whole episodes (to termination or the time limit)."""

    def episode(key: jax.Array) -> jax.Array:
        reset_key, key = jax.random.split(key)
        obs, state = env.reset(reset_key)

        def step(carry: tuple, step_key: jax.Array) -> tuple[tuple, None]:
            obs, state, total, done = carry
            result = env.step(step_key, state, act(obs))
            total = total + jnp.where(done, 0.0, result.reward)
            finished = jnp.logical_or(result.terminated, result.truncated)
            return (result.obs, result.state, total, jnp.logical_or(done, finished)), None

        (_, _, total, _), _ = jax.lax.scan(step, (obs, state, jnp.float32(0.0), jnp.bool_(False)),
                                           jax.random.split(key, env.max_episode_steps))
        return total

    return jax.vmap(episode)(jax.random.split(key, episodes)).mean()


def with_defaults(config: Mapping[str, Any], algorithm: str, supported: frozenset[str], defaults: Mapping[str, Any],
                  spec: Any, policies: tuple[str, ...] = ("MlpPolicy",)) -> dict[str, Any]:
    """``config`` over SB3's ``defaults`` and the protocol's policy (``spec.policy``, as the SB3
    backend reads it), after refusing what the jax ``algorithm`` does not take: unknown keys, a
    policy not in ``policies``, gSDE."""
    unknown = set(config) - supported
    if unknown:
        raise ValueError(f"the jax {algorithm} does not take {sorted(unknown)}")
    values = {**defaults, "policy": spec.policy, **config}
    if values["policy"] not in policies or values.get("use_sde", False):
        raise ValueError(f"the jax {algorithm} has {' and '.join(policies)} without gSDE only")
    return values


def scheduled(value: Any) -> tuple[float, bool]:
    """rl-zoo3's ``lin_X`` (X times SB3's progress remaining) as (X, True); a number as (it, False)."""
    if isinstance(value, str) and value.startswith(_SCHEDULE_PREFIX):
        return float(value[len(_SCHEDULE_PREFIX):]), True
    return float(value), False


def network(policy_kwargs: Any, default_arch: list[int], default_activation: str, value_key: str = "vf"
            ) -> tuple[tuple[int, ...], tuple[int, ...], str]:
    """``policy_kwargs`` (rl-zoo3's string or a mapping) as (policy layers, value layers, activation);
    only ``net_arch`` and ``activation_fn`` are understood, anything else is refused. ``value_key``:
    the value network's name in a ``net_arch`` dict (``vf`` for PPO, ``qf`` for SAC and TD3)."""
    from ..run_config import parse_policy_kwargs

    kwargs = parse_policy_kwargs(policy_kwargs or {})
    unknown = set(kwargs) - {"net_arch", "activation_fn", "ortho_init"}
    if unknown or kwargs.get("ortho_init", True) is not True:
        raise ValueError(f"the jax backend takes net_arch and activation_fn in policy_kwargs, not {sorted(unknown)}")
    arch = kwargs.get("net_arch", default_arch)
    pi, vf = (arch.get("pi", []), arch.get(value_key, [])) if isinstance(arch, dict) else (arch, arch)
    activation = getattr(kwargs.get("activation_fn"), "__name__", default_activation).lower()
    if activation not in ACTIVATIONS:
        raise ValueError(f"the jax backend has activations {sorted(ACTIVATIONS)}, not {activation}")
    return tuple(pi), tuple(vf), activation


def torch_linear_init(key: jax.Array, sizes: tuple[int, ...]) -> list[tuple[jax.Array, jax.Array]]:
    """torch's default ``nn.Linear`` initialisation (weights and biases uniform in +-1/sqrt(fan_in))
    for each layer of ``sizes``: SB3's off-policy networks keep it."""
    layers = []
    for key, (n_in, n_out) in zip(jax.random.split(key, len(sizes) - 1), zip(sizes[:-1], sizes[1:])):
        bound = 1.0 / math.sqrt(n_in)
        w_key, b_key = jax.random.split(key)
        layers.append((jax.random.uniform(w_key, (n_in, n_out), jnp.float32, -bound, bound),
                       jax.random.uniform(b_key, (n_out,), jnp.float32, -bound, bound)))
    return layers


#: SB3's NatureCNN: (filters, kernel, stride) of its convolutions, then one ReLU layer of 512.
NATURE_CNN = ((32, 8, 4), (64, 4, 2), (64, 3, 1))
NATURE_CNN_FEATURES = 512


def nature_cnn_init(key: jax.Array, image_shape: tuple[int, int, int]) -> list[tuple[jax.Array, jax.Array]]:
    """SB3's ``NatureCNN`` for (height, width, channels) images, torch's default initialisation
    (convolutions as ``nn.Linear``: uniform in +-1/sqrt(fan_in))."""
    height, width, channels = image_shape
    conv_keys = jax.random.split(key, len(NATURE_CNN) + 1)
    layers = []
    for conv_key, (filters, kernel, stride) in zip(conv_keys, NATURE_CNN):
        bound = 1.0 / math.sqrt(channels * kernel * kernel)
        w_key, b_key = jax.random.split(conv_key)
        layers.append((jax.random.uniform(w_key, (kernel, kernel, channels, filters), jnp.float32, -bound, bound),
                       jax.random.uniform(b_key, (filters,), jnp.float32, -bound, bound)))
        height, width, channels = (height - kernel) // stride + 1, (width - kernel) // stride + 1, filters
    return layers + torch_linear_init(conv_keys[-1], (height * width * channels, NATURE_CNN_FEATURES))


def nature_cnn(layers: list[tuple[jax.Array, jax.Array]], images: jax.Array) -> jax.Array:
    """(..., height, width, channels) images in [0, 1] -> (..., 512) features."""
    x = images.reshape(-1, *images.shape[-3:])
    for (w, b), (_, _, stride) in zip(layers, NATURE_CNN):
        x = jax.nn.relu(_convolve(x, w, stride) + b)
    w, b = layers[-1]
    return jax.nn.relu(x.reshape(*images.shape[:-3], -1) @ w + b)


def _convolve(x: jax.Array, w: jax.Array, stride: int) -> jax.Array:
    """A VALID convolution (NHWC images, HWIO kernel) as patches times a matrix: XLA's CPU
    convolution runs about 8x slower inside a loop (a trial's training loop) than outside, a matmul
    does not. The same numbers as ``lax.conv_general_dilated`` (tests/test_jax_minigrid.py)."""
    kernel = w.shape[0]
    rows = (np.arange((x.shape[1] - kernel) // stride + 1) * stride)[:, None] + np.arange(kernel)
    columns = (np.arange((x.shape[2] - kernel) // stride + 1) * stride)[:, None] + np.arange(kernel)
    patches = x[:, rows[:, None, :, None], columns[None, :, None, :], :]  # (batch, out_h, out_w, kh, kw, c)
    return patches.reshape(*patches.shape[:3], -1) @ w.reshape(-1, w.shape[-1])


def linear_head(layers: list[tuple[jax.Array, jax.Array]], x: jax.Array, activation: str) -> jax.Array:
    """An MLP whose last layer has no activation (SB3's ``create_mlp``)."""
    return mlp(layers[:-1], x, activation) @ layers[-1][0] + layers[-1][1]


def polyak(params: Any, target: Any, tau: jax.Array) -> Any:
    """SB3's ``polyak_update``: ``target <- tau * params + (1 - tau) * target``."""
    return jax.tree.map(lambda p, t: tau * p + (1.0 - tau) * t, params, target)


def mlp(layers: list[tuple[jax.Array, jax.Array]], x: jax.Array, activation: str) -> jax.Array:
    act = ACTIVATIONS[activation]
    for w, b in layers:
        x = act(x @ w + b)
    return x


def checkpoint_updates(budget: int, rollout: int, curve_points: int) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """The SB3 backend's learning-curve checkpoints (env steps) and, for each, the number of
    iterations done before it: SB3 evaluates during the rollout in which the checkpoint is passed,
    before that rollout's update; the last one after training."""
    from ..sb3 import checkpoints

    steps = tuple(checkpoints(budget, curve_points))
    iterations = -(-budget // rollout)
    updates = tuple(math.ceil(step / rollout) - 1 for step in steps[:-1]) + (iterations,)
    return steps, updates


def clip_by_global_norm(grads: Any, max_norm: jax.Array) -> Any:
    """torch's ``clip_grad_norm_``: scale by ``max_norm / (norm + 1e-6)`` when that is below 1."""
    coef = jnp.minimum(max_norm / (optax.tree.norm(grads) + 1e-6), 1.0)
    return jax.tree.map(lambda g: g * coef, grads)


def adam_step(params: Any, grads: Any, opt_state: Any, adam: Any, lr: jax.Array) -> tuple[Any, Any]:
    """One torch-Adam step (``adam``: optax's ``scale_by_adam``; the learning rate may vary per trial)."""
    step, opt_state = adam.update(grads, opt_state)
    return jax.tree.map(lambda p, s: p - lr * s, params, step), opt_state


def sgd_step(params: Any, grads: Any, opt_state: Any, adam: Any, lr: jax.Array, max_norm: jax.Array) -> tuple[Any, Any]:
    """One torch-Adam step after clipping by global norm."""
    return adam_step(params, clip_by_global_norm(grads, max_norm), opt_state, adam, lr)
