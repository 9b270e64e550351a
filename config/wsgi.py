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
