"""``vidalign view DIR`` (``docs/viewer.md``): serve a viewer folder on 127.0.0.1 and open its page, for those who
prefer an address to a ``file://`` page. The page needs no server; this one only serves the folder's files, on
the loopback interface, until interrupted, and only to requests addressed to the loopback (a web page elsewhere
that points a name of its own at 127.0.0.1, DNS rebinding, gets 403 and not the folder's results and media).
"""

from __future__ import annotations

import functools
import http.server
import os
import threading
import webbrowser
from pathlib import Path

from vidalign.errors import InputError

__all__ = ["page_server", "serve"]


LOOPBACK_NAMES = ("127.0.0.1", "localhost", "[::1]")


def _host_name(header: str) -> str:
    """The name in a ``Host`` header, without its port (``"[::1]:8000"`` -> ``"[::1]"``)."""
    return header.split("]")[0] + "]" if header.startswith("[") else header.rsplit(":", 1)[0]


class _LoopbackHandler(http.server.SimpleHTTPRequestHandler):
    """Serves the folder to requests whose ``Host`` names the loopback, quietly."""

    def send_head(self):  # every GET and HEAD passes here
        if _host_name(self.headers.get("Host") or "").lower() not in LOOPBACK_NAMES:
            self.send_error(403, "only requests to 127.0.0.1 or localhost are served")
            return None
        return super().send_head()

    def log_message(self, format: str, *args) -> None:  # noqa: A002 - the signature of the base class
        pass


def page_server(folder: str | os.PathLike[str], port: int = 0) -> http.server.ThreadingHTTPServer:
    """A server of ``folder`` (which must hold ``index.html``) on ``127.0.0.1:port`` (0: any free port), not yet
    started: call ``serve_forever`` (or run it in a thread) and ``shutdown``."""
    root = Path(folder)
    if not 0 <= port <= 65535:
        raise InputError(f"port must be in 0..65535 (0: any free one), got {port}")
    if not (root / "index.html").is_file():
        raise InputError(f"{root}: no index.html (write one with align, compare, segment or retrieve)")
    handler = functools.partial(_LoopbackHandler, directory=str(root))
    return http.server.ThreadingHTTPServer(("127.0.0.1", port), handler)


def serve(folder: str | os.PathLike[str], *, port: int = 0, open_browser: bool = True) -> None:
    """Serve ``folder`` until Ctrl-C, printing its address and opening it in the default browser."""
    server = page_server(folder, port)
    address = f"http://127.0.0.1:{server.server_address[1]}/index.html"
    print(f"serving {folder} at {address} (Ctrl-C to stop)", flush=True)
    if open_browser:
        threading.Thread(target=webbrowser.open, args=(address,), daemon=True).start()
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
