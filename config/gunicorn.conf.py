"""The gunicorn settings the app ships with (the Dockerfile and docker-compose use this file).

Workers and threads are the ones ``bench/claim.py --configs`` found best for the annotator
loop (claim + submit, one client and 32) on a 2-core machine: 2 workers x 2 threads gave the
most cycles per second and the lowest claim p99 of the eight settings tried (README,
"Serving"). More processes than cores only take turns on them (PostgreSQL needs its share);
more threads queue requests behind a worker's interpreter lock. Set ``WEB_CONCURRENCY``
(workers, about one per core) and ``GUNICORN_THREADS`` for another machine, then measure with
the bench.

Each worker thread keeps one PostgreSQL connection (``CONN_MAX_AGE``): workers x threads x
web containers must stay under PostgreSQL's ``max_connections`` (100 by default), with room
for the Celery workers.
"""

import os

# Loopback unless told otherwise: the Dockerfile sets HOST=0.0.0.0 inside its container.
bind = f"{os.environ.get('HOST', '127.0.0.1')}:{os.environ.get('PORT', '8000')}"
workers = int(os.environ.get("WEB_CONCURRENCY", "2"))
threads = int(os.environ.get("GUNICORN_THREADS", "2"))
# A request that takes longer than this is a stuck one: the worker is replaced. Uploads of
# 50,000 items take a few seconds; exports are built by the Celery worker, not here.
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "60"))
graceful_timeout = 30  # a deploy's HUP/TERM lets the requests in flight finish
keepalive = 5  # seconds an idle client connection is kept (behind a proxy that reuses them)
accesslog = os.environ.get("GUNICORN_ACCESS_LOG", "-") or None
errorlog = "-"
loglevel = os.environ.get("GUNICORN_LOG_LEVEL", "info")
