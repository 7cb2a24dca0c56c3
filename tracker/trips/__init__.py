"""Enforcement: the engine that turns fixes into trips and incidents, and the incidents API.

``core``   the pure engine (state machine, rules, annotation, rewind, the registry view): no
           database, Redis, asyncio or module-level mutable state; tested on its own.
``worker`` the engine process around it: shard streams, SQL, checkpoints, ``tracker engine``.
``api``/``queries`` the incidents and trips endpoints (read and officer actions).

The package keeps the name ``trips`` (the electronic manifest, 电子联单, is what it builds per
haul); see docs/ARCHITECTURE.md §9.
"""
