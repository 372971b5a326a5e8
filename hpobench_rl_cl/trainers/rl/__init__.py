"""RL trainers: the SB3 backend, algorithms, environment families, rl-zoo3 hand-tuned configurations."""
