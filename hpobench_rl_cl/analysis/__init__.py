"""Analysis: robust statistics over scores, and the seed-overfitting audit."""
