"""Example plugins for hpobench-rl-cl (see the README's "Adding a method to the leaderboard")."""
