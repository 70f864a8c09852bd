"""Benchmarks of promoloop's models on public randomized experiments.

``run_uplift_benchmark`` scores promoloop's uplift learners, and optionally
scikit-uplift and CausalML, on the Hillstrom e-mail experiment.
``policy_value_table`` estimates what a budgeted mailing policy would have
earned on the held-out part of that experiment.
"""

from promoloop.benchmarks.policy import ips_contributions, policy_value_table
from promoloop.benchmarks.uplift import run_uplift_benchmark

__all__ = ["ips_contributions", "policy_value_table", "run_uplift_benchmark"]
