"""What the fitted laws mean for a budget: what training costs (cost), which model size to train
(sizing), which experiment to run next (plan), and the ledger that checks forecasts once their
sizes are measured (ledger). Pure functions of the fit and the trial tables, no torch.
"""

# The widest model the size answer searches when it turns a parameter count into a width
# (sizing.width_for_params); the summary page names it for a size beyond it. Here, not in sizing,
# so that the report step, which only names it, does not import sizing (which builds models).
MAX_WIDTH = 1 << 16
