"""``vidalign view DIR`` (``docs/viewer.md``): serve a viewer folder on 127.0.0.1 and open its page, for those who
prefer an address to a ``file://`` page. The page needs no server; this one only serves the folder's files, on
the loopback interface, until interrupted, and only to requests addressed to the loopback (a web page elsewhere
that points a name of its own at 127.0.0.1, DNS rebinding, gets 403 and not the folder's results and media).
A request for a byte range of a file (``Range: bytes=a-b``, as a browser asks for a video it seeks in) gets just
those bytes (206): without them Chromium cannot seek a served video, and the players would not follow one another.
"""

from __future__ import annotations

import functools
import http.server
import os
import re
import shutil
import threading
import webbrowser
from pathlib import Path

from vidalign.errors import InputError, one_line

__all__ = ["page_server", "serve"]


LOOPBACK_NAMES = ("127.0.0.1", "localhost", "[::1]")
BYTE_RANGE = re.compile(r"bytes=(\d*)-(\d*)")  # one range; a list of them is served whole


def _host_name(header: str) -> str:
    """The name in a ``Host`` header, without its port (``"[::1]:8000"`` -> ``"[::1]"``)."""
    return header.split("]")[0] + "]" if header.startswith("[") else header.rsplit(":", 1)[0]


class _LoopbackHandler(http.server.SimpleHTTPRequestHandler):
    """Serves the folder to requests whose ``Host`` names the loopback, quietly."""

    remaining: int | None = None  # bytes of the requested range still to send (None: the whole file)

    def send_head(self):  # every GET and HEAD passes here
        self.remaining = None
        if _host_name(self.headers.get("Host") or "").lower() not in LOOPBACK_NAMES:
            self.send_error(403, "only requests to 127.0.0.1 or localhost are served")
            return None
        path = self.translate_path(self.path)
        requested = BYTE_RANGE.fullmatch((self.headers.get("Range") or "").strip())
        if requested is None or requested.groups() == ("", "") or not os.path.isfile(path):
            return super().send_head()
        if not self._range_applies(path):  # a conditional request: the base class answers it whole (or 304)
            return super().send_head()
        return self._send_range(path, *requested.groups())

    def _range_applies(self, path: str) -> bool:
        """Whether the range is served (RFC 9110 13.1.5, 13.2.2): not with ``If-None-Match`` or
        ``If-Modified-Since``, and with ``If-Range`` only when it names the file's current ``Last-Modified``."""
        if "If-None-Match" in self.headers or "If-Modified-Since" in self.headers:
            return False
        validator = self.headers.get("If-Range")
        return validator is None or validator.strip() == self.date_time_string(int(os.path.getmtime(path)))

    def _send_range(self, path: str, first: str, last: str):
        """Headers of a 206 answer for bytes ``first-last`` of ``path`` (RFC 9110 14.1.2; ``-n``: the last n),
        and the file positioned at the first of them, or 416 for a range beyond its end."""
        size = os.path.getsize(path)
        start, end = (max(0, size - int(last)), size - 1) if first == "" else (int(first), int(last or size - 1))
        end = min(end, size - 1)
        if start > end:
            self.send_response(416)
            self.send_header("Content-Range", f"bytes */{size}")
            self.send_header("Content-Length", "0")
            self.end_headers()
            return None
        source = open(path, "rb")  # noqa: SIM115 - closed by the base class after copyfile
        try:
            source.seek(start)
            self.remaining = end - start + 1
            self.send_response(206)
            self.send_header("Content-Type", self.guess_type(path))
            self.send_header("Content-Range", f"bytes {start}-{end}/{size}")
            self.send_header("Content-Length", str(self.remaining))
            self.send_header("Last-Modified", self.date_time_string(int(os.path.getmtime(path))))
            self.end_headers()
        except BaseException:  # the client went away (a browser cancels a range when it seeks): close it here
            source.close()
            raise
        return source

    def end_headers(self) -> None:
        self.send_header("Accept-Ranges", "bytes")
        super().end_headers()

    def copyfile(self, source, outputfile) -> None:
        if self.remaining is None:
            shutil.copyfileobj(source, outputfile)
            return
        while self.remaining > 0:
            chunk = source.read(min(self.remaining, 1 << 16))
            if not chunk:
                break
            outputfile.write(chunk)
            self.remaining -= len(chunk)

    def log_message(self, format: str, *args) -> None:  # noqa: A002 - the signature of the base class
        pass


def page_server(folder: str | os.PathLike[str], port: int = 0) -> http.server.ThreadingHTTPServer:
    """A server of ``folder`` (which must hold ``index.html``) on ``127.0.0.1:port`` (0: any free port), not yet
    started: call ``serve_forever`` (or run it in a thread) and ``shutdown``."""
    root = Path(folder)
    if not 0 <= port <= 65535:
        raise InputError(f"port must be in 0..65535 (0: any free one), got {port}")
    if not root.is_dir():
        raise InputError(f"{root}: no such folder")
    if not (root / "index.html").is_file():
        raise InputError(f"{root}: no index.html (align, compare, segment and retrieve write one, unless --no-viewer)")
    handler = functools.partial(_LoopbackHandler, directory=str(root))
    return http.server.ThreadingHTTPServer(("127.0.0.1", port), handler)


def serve(folder: str | os.PathLike[str], *, port: int = 0, open_browser: bool = True) -> None:
    """Serve ``folder`` until Ctrl-C, printing its address and opening it in the default browser."""
    try:
        server = page_server(folder, port)
    except OSError as error:  # the port is taken, or not ours to use
        raise InputError(f"cannot serve on 127.0.0.1:{port} ({one_line(error)}); choose another --port, or 0: any "
                         "free one") from None  # fmt: skip
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
