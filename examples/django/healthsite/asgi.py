"""ASGI entry point: `uvicorn healthsite.asgi:application` (run from examples/django)."""
import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "healthsite.settings")
application = get_asgi_application()
