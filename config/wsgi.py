import gc
import os

from django.core.wsgi import get_wsgi_application
from django.urls import get_resolver

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.local")
application = get_wsgi_application()

# Import the URLconf, and with it every view, while the process boots (a gunicorn worker takes
# no request until this module is loaded) rather than in its first request: Django imports it
# lazily, which made the first request of every worker 0.3 s slower (bench/claim.py's one
# client met each of the workers' first requests).
get_resolver().url_patterns  # noqa: B018 (the import is the point)

# What the imports made (some 130,000 objects) lives as long as the process: out of the
# garbage collector's sight, a full collection looks only at what requests made since. Each
# worker's full collections took 48 to 58 ms (the request that set one off was that much
# slower: one client's p99), 6 to 11 ms once frozen.
gc.collect()
gc.freeze()
