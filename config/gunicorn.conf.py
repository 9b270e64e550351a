"""The gunicorn settings the app ships with (the Dockerfile and docker-compose use this file).

Workers, threads and keep-alive are the ones ``bench/claim.py --configs`` found best for the
annotator loop (claim + submit, one client and 32) on a 2-core machine: 3 workers x 2
threads without keep-alive gave the most cycles per second with 32 clients and the lowest
claim p99, one client's p50s as with 2 workers (README, "Serving"). More processes take
turns on the cores with PostgreSQL; more threads queue requests behind a worker's
interpreter lock.
Set ``WEB_CONCURRENCY`` (workers, about one per core), ``GUNICORN_THREADS`` and
``GUNICORN_KEEPALIVE`` for another machine, then measure with the bench.

Each worker thread keeps one PostgreSQL connection (``CONN_MAX_AGE``): workers x threads x
web containers must stay under PostgreSQL's ``max_connections`` (100 by default), with room
for the Celery workers.
"""

import os

# Loopback unless told otherwise: the Dockerfile sets HOST=0.0.0.0 inside its container.
bind = f"{os.environ.get('HOST', '127.0.0.1')}:{os.environ.get('PORT', '8000')}"
workers = int(os.environ.get("WEB_CONCURRENCY", "3"))
threads = int(os.environ.get("GUNICORN_THREADS", "2"))
# A request that takes longer than this is a stuck one: the worker is replaced. Uploads of
# 50,000 items take a few seconds; exports are built by the Celery worker, not here.
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "60"))
graceful_timeout = 30  # a deploy's HUP/TERM lets the requests in flight finish
# No keep-alive, and a worker takes a connection only when one of its threads is free: the
# requests then wait in the kernel's one queue of the listening socket and are served first
# come, first served by whichever worker frees a thread. With keep-alive each connection
# stays with the worker that accepted it, and a worker accepts all it can: one worker's
# queue grows while the other's threads idle (32 clients on 2 x 2: 1.6 of 2 cores busy and a
# claim p99 of 280 ms; without: 1.9 cores and 146 ms, README "Serving"). A connection per
# request costs a fraction of a millisecond, and nothing behind a proxy that keeps the
# browsers' connections alive. GUNICORN_KEEPALIVE (seconds) turns keep-alive back on, with
# gunicorn's usual eager accepting.
keepalive = int(os.environ.get("GUNICORN_KEEPALIVE", "0"))
worker_connections = threads if keepalive == 0 else 1000
# gunicorn's threaded worker, but one worker woken per new connection instead of all of them
# (config/gunicorn_worker.py); GUNICORN_WORKER_CLASS=gthread is gunicorn's own.
worker_class = os.environ.get(
    "GUNICORN_WORKER_CLASS", "config.gunicorn_worker.ExclusiveAcceptThreadWorker"
)
accesslog = os.environ.get("GUNICORN_ACCESS_LOG", "-") or None
errorlog = "-"
loglevel = os.environ.get("GUNICORN_LOG_LEVEL", "info")
