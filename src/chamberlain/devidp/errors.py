"""The one error of the development identity provider: a directory, file or request it cannot use."""

from __future__ import annotations

from chamberlain.errors import Error


class DevIdpError(Error):
    """A problem with the dev IdP's directory, its files or a token request; the message says where."""
