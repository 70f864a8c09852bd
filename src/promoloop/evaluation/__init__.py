"""Evaluation of uplift models on randomized campaigns.

``uplift_metrics`` contains the Qini and uplift curves, the Qini coefficient,
AUUC, uplift at k, the average treatment effect and a bootstrap interval for
any of them. A metric the data cannot identify, such as uplift without a
control group, comes back as an ``UpliftMetricResult`` with ``defined=False``
and a reason, never as NaN.
"""
