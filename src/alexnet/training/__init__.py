"""Training (§5): the train state and the jitted steps (``steps``), the optimizer and the
learning-rate rules (``optim``), the loop (``trainer``), its logs (``metrics``) and
profiles (``profiling``)."""
