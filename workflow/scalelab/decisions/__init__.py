"""What the fitted laws mean for a budget: what training costs (cost), which model size to train
(sizing), which experiment to run next (plan), and the ledger that checks forecasts once their
sizes are measured (ledger). Pure functions of the fit and the trial tables, no torch.
"""
