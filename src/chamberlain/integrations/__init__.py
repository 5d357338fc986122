"""Application-side enforcement: helpers that put the PDP in the path of the application's own actions.

- :mod:`~chamberlain.integrations.sqlalchemy`: query plans as SQLAlchemy queries (``chamberlain[sqlalchemy]``);
- :mod:`~chamberlain.integrations.web`: ``@requires`` for plain functions; :mod:`~chamberlain.integrations.fastapi`
  (``chamberlain[fastapi]``) and :mod:`~chamberlain.integrations.starlette`: a dependency and an ASGI middleware;
- :mod:`~chamberlain.integrations.tools`: ``ToolGuard``, agent tool calls checked as the MCP gateway checks them;
  :mod:`~chamberlain.integrations.langchain`, :mod:`~chamberlain.integrations.pydantic_ai`,
  :mod:`~chamberlain.integrations.openai_agents`: its adapters (each an extra of the same name).

Each decides with an embedded :class:`~chamberlain.PDP`, a :class:`~chamberlain.Client` or an
:class:`~chamberlain.AsyncClient` (:mod:`~chamberlain.integrations.decide`).
"""
