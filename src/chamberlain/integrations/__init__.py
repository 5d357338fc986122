"""Application-side enforcement: helpers that put the PDP in the path of the application's own reads.

:mod:`chamberlain.integrations.sqlalchemy` turns query plans into SQLAlchemy queries (install the
``chamberlain[sqlalchemy]`` extra).
"""
