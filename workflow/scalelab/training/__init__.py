"""Training a trial: scalelab's own loop (loop), its stopping rule and schedule (stopping), the
optimiser (adam), the trial store that survives reruns and preemption (store), the device and
precision a job gets (device), and the progress lines a person watches (progress).
"""
