"""The web console: sessions, approvals, the decision log, the vault map and a playground, in a browser.

Served by ``chamberlain serve`` under ``/console`` (:mod:`chamberlain.console.web`) while the admin
surface is on. Operators log in with the admin credentials, people with OIDC (authorization code +
PKCE) against a trusted issuer; every page and action is authorized by the admin policies, exactly as
the admin API authorizes the same call, and recorded in the decision log. See docs/concepts/console.md.
"""
