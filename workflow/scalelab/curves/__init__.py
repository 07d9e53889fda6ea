"""The curve science, usable on its own from a notebook (no torch): the candidate laws (laws),
fitting and choosing one with its bootstrap (fit), the backtest on held-back sizes (backtest), the
calibrated forecast (forecast), the exponents' uncertainty (exponents), fitting a curve measured
elsewhere (measured), and simulated curves with a known answer (simulate).
"""
