"""CL trainers: the Avalanche backend, datasets, models, strategies."""
