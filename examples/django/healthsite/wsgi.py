"""WSGI entry point: `gunicorn healthsite.wsgi` (run from examples/django)."""
import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "healthsite.settings")
application = get_wsgi_application()
