"""The network (§3): one device's program (``network``), its two towers and where they talk
(``towers``), the mesh and ``shard_map`` (``parallel``), and how it is lowered per backend
(``lowering``). Imports only the config and the errors."""
