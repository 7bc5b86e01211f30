"""What the process pool's fork server imports before it forks a worker
(:func:`curation.pipeline.local.pool_context`): the run's chain (the default chain unless
:func:`curation.pipeline.local.start_pool_server` named another), warmed up once
(:func:`curation.pipeline.local.warm_preload`), so that every worker starts with it loaded.

Importing this module is that warm-up (~2 s); nothing else imports it. Multiprocessing preloads
a fork server by module name, and stops the server on any error but an ImportError: none leaves.
"""

try:
    from curation.pipeline.local import warm_preload

    warm_preload()
except Exception:  # noqa: BLE001 - a worker loads what its first batch needs, and reports any error there
    pass
