"""Authorization for HTTP proxies: Envoy ext_authz (HTTP and gRPC), nginx auth_request, Caddy and Traefik
forward auth. Every proxy's question is turned into one :class:`ProxyRequest` and answered by one
:class:`ProxyAuthorizer`; the proxy-specific code only translates (see ``contract.py``)."""
