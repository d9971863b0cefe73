"""Error pages: inside the console's layout with a way back; JSON under /api/, where clients parse it.

Django calls these only with DEBUG off (console/urls.py names them). The 500 page is rendered
without the request's context (no user, no database), as Django's own handler does, so it still
renders when the database is what failed.
"""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views import defaults

API_PREFIX = "/api/"
# The same words as the API's own errors (console/api_errors.py).
API_DETAIL = {
    404: "Not found.",
    403: "You do not have permission to do this.",
    500: "Internal error; the server log has the details.",
}


def _is_api(request: HttpRequest) -> bool:
    return request.path.startswith(API_PREFIX)


def page_not_found(request: HttpRequest, exception: Exception) -> HttpResponse:
    if _is_api(request):
        return JsonResponse({"detail": API_DETAIL[404]}, status=404)
    return defaults.page_not_found(request, exception)


def permission_denied(request: HttpRequest, exception: Exception) -> HttpResponse:
    if _is_api(request):
        return JsonResponse({"detail": API_DETAIL[403]}, status=403)
    return defaults.permission_denied(request, exception)


def server_error(request: HttpRequest) -> HttpResponse:
    if _is_api(request):
        return JsonResponse({"detail": API_DETAIL[500]}, status=500)
    return defaults.server_error(request)
