from __future__ import annotations

from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.templatetags.static import static
from django.urls import include, path
from django.views.generic import RedirectView
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from console.login_form import LoginForm
from console.views import home, tokens

handler404 = "console.views.errors.page_not_found"
handler403 = "console.views.errors.permission_denied"
handler500 = "console.views.errors.server_error"

urlpatterns = [
    path("", home.home, name="home"),
    # Browsers ask for /favicon.ico whatever the page links: send them to the one icon.
    path("favicon.ico", RedirectView.as_view(url=static("favicon.svg"), permanent=True)),
    path("login/", auth_views.LoginView.as_view(authentication_form=LoginForm), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("settings/tokens/", tokens.token_list, name="tokens"),
    path("settings/tokens/<int:pk>/revoke/", tokens.token_revoke, name="token-revoke"),
    path("admin/", admin.site.urls),
    path("api/v1/", include("deployments.api.urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    # The split view serves its start-up script from ?script rather than inline, as the Content-Security-Policy requires.
    path("api/docs/", SpectacularSwaggerSplitView.as_view(url_name="api-schema"), name="api-docs"),
    path("", include("deployments.urls")),
]
