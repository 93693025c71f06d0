"""Benchmarks: C NUT and nutpy side by side in one run, reported as ratios.
Each module runs alone as ``python -m bench.<name>``; ``./dev bench`` runs them all."""
