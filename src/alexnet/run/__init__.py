"""A run's life: its workdir and lock (``workdir``), its checkpoints (``checkpoint``),
stopping on a signal (``stopping``) and what a person watching sees (``console``)."""
