"""What the process pool's fork server imports before it forks a worker
(:func:`curation.pipeline.local.pool_context`): the default chain, warmed up once
(:func:`curation.pipeline.local.warm_defaults`), so that every worker starts with it loaded.

Importing this module is that warm-up (~2 s); nothing else imports it. Multiprocessing preloads
a fork server by module name, and stops the server on any error but an ImportError: none leaves.
"""

try:
    from curation.pipeline.local import warm_defaults

    warm_defaults()
except Exception:  # noqa: BLE001 - a worker loads what its first batch needs, and reports any error there
    pass
