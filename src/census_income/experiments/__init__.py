"""Experiments on DVC: sweeps on the queue, the ranked table, exploration helpers, experiment to branch."""
