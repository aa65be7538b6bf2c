"""The site's one page. The health endpoints come from healthprobe.django."""
from django.http import HttpResponse
from django.views.decorators.http import require_safe


@require_safe  # GET and HEAD; anything else is a 405
def home(request):
    return HttpResponse("healthsite: the reference app for healthprobe\n", content_type="text/plain")
