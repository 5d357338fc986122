"""What people do with a log once written: check it (``verify``, ``integrity``, ``keyset``), look back
(``replay``, ``timeline``), maintain it (``erase``, ``rotation``) and show it outside the database
(``publish``: a head file and witnesses; ``export``: JSON lines and OTLP; ``witness``: the witness
client, server and cosignatures). ``cli`` is ``chamberlain audit``.
"""
