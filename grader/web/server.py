"""``grader serve``: the app under waitress, a production WSGI server (threads, pure Python)."""

from __future__ import annotations

import sys

from . import REQUEST_LIMIT, create_app, default_database
from .storage import database_url, describe

# waitress itself refuses bodies past this (a plain 413) before Flask sees them; below it,
# Flask's MAX_CONTENT_LENGTH answers with a JSON 413.
WAITRESS_BODY_LIMIT = 8 * REQUEST_LIMIT


def serve(host: str = "127.0.0.1", port: int = 5000, db: str | None = None,
          workers: int | None = None, threads: int = 8, broker: str | None = None) -> None:
    from waitress import serve as waitress_serve

    database = database_url(db or default_database())
    app = create_app({"DATABASE": database, "GRADER_WORKERS": workers,
                      "BROKER_URL": broker or None})
    shown = f"[{host}]" if ":" in host else host
    grading = f"; grading on the workers of {broker}" if broker else ""
    print(f"Serving the grader on http://{shown}:{port}/  (database: {describe(database)}"
          f"{grading}; Ctrl+C stops it)", file=sys.stderr, flush=True)
    waitress_serve(app, host=host, port=port, threads=threads, ident="grader",
                   max_request_body_size=WAITRESS_BODY_LIMIT, clear_untrusted_proxy_headers=True)
