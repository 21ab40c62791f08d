"""Single sign-on with OpenID Connect (authorization code + PKCE) through ``authlib`` (issue 13).

Configured by ``ONEMAP_OIDC_ISSUER``, ``ONEMAP_OIDC_CLIENT_ID`` and
``ONEMAP_OIDC_CLIENT_SECRET``; absent, there is no SSO and its routes answer 404.
"""

from __future__ import annotations

from spatial.settings import get_settings


def configured() -> bool:
    """Whether single sign-on is set up."""
    s = get_settings()
    return bool(s.oidc_issuer and s.oidc_client_id)
