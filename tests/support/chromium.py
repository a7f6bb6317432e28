"""The one Chrome DevTools Protocol client the browser tests use: headless Chromium (the Debian
package; no Playwright offline) driven over ``--remote-debugging-pipe``, stdlib only.

The pipe (fd 3 = commands in, fd 4 = replies and events out, messages separated by NUL) needs no
port and no websocket package. Headless Chromium will not make a window narrower than 500 px, so
a phone's 390 px viewport is set the way DevTools' device mode does it:
``Emulation.setDeviceMetricsOverride``.
"""

from __future__ import annotations

import base64
import fcntl
import json
import os
import select
import subprocess
import tempfile
import time
from pathlib import Path

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-dev-shm-usage", "--hide-scrollbars")


def chromium_installed(binary: str = CHROMIUM) -> bool:
    return os.path.isfile(binary) and os.access(binary, os.X_OK)


def _above_ten(fd: int) -> int:
    high = fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 10)
    os.close(fd)
    return high


class Chromium:
    """One headless Chromium with one page. ``call`` talks to the browser, ``page`` to the page."""

    def __init__(self, binary: str = CHROMIUM, timeout: float = 60.0):
        self.timeout = timeout
        self._profile = tempfile.TemporaryDirectory(prefix="chromium-profile-")
        # Pipe ends above 10: dup2 onto 3 and 4 in the child must never hit another end (and
        # dup2(fd, fd) would keep close-on-exec set).
        to_child, self._out, self._in, from_child = (_above_ten(fd) for fd in (*os.pipe(), *os.pipe()))

        def fds() -> None:  # in the child: commands on fd 3, replies on fd 4
            os.dup2(to_child, 3)
            os.dup2(from_child, 4)

        self.proc = subprocess.Popen(
            [binary, *FLAGS, f"--user-data-dir={self._profile.name}", "--remote-debugging-pipe", "about:blank"],
            preexec_fn=fds, close_fds=False, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        os.close(to_child)
        os.close(from_child)
        self._buf = b""
        self._id = 0
        self.events: list[dict] = []
        target = self.call("Target.createTarget", url="about:blank")["targetId"]
        self.session = self.call("Target.attachToTarget", targetId=target, flatten=True)["sessionId"]
        self.page("Page.enable")

    def _read(self) -> dict:
        deadline = time.monotonic() + self.timeout
        while b"\0" not in self._buf:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([self._in], [], [], left)[0]:
                raise TimeoutError("no answer from Chromium")
            chunk = os.read(self._in, 1 << 20)
            if not chunk:
                raise RuntimeError(f"Chromium exited: {self.proc.stderr.read().decode(errors='replace')[-2000:]}")
            self._buf += chunk
        msg, self._buf = self._buf.split(b"\0", 1)
        return json.loads(msg)

    def call(self, method: str, session: bool = False, **params) -> dict:
        self._id += 1
        msg = {"id": self._id, "method": method, "params": params}
        if session:
            msg["sessionId"] = self.session
        os.write(self._out, json.dumps(msg).encode() + b"\0")
        while True:
            reply = self._read()
            if reply.get("id") == self._id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return reply.get("result", {})
            self.events.append(reply)

    def page(self, method: str, **params) -> dict:
        return self.call(method, session=True, **params)

    def wait_event(self, name: str) -> dict:
        for i, e in enumerate(self.events):
            if e.get("method") == name:
                return self.events.pop(i)
        while True:
            e = self._read()
            if e.get("method") == name:
                return e
            self.events.append(e)

    def viewport(self, width: int, height: int = 900, scale: float = 1, mobile: bool = False) -> None:
        """A ``width`` x ``height`` CSS-pixel viewport; ``mobile`` lays pages out as a phone does."""
        self.page("Emulation.setDeviceMetricsOverride", width=width, height=height, deviceScaleFactor=scale,
                  mobile=mobile)

    def goto(self, url: str) -> None:
        """Load ``url`` in the current viewport and wait for its load event."""
        self.events.clear()
        self.page("Page.navigate", url=url)
        self.wait_event("Page.loadEventFired")

    def open(self, url: str, width: int, height: int, scale: float = 1, mobile: bool = False) -> None:
        """Load ``url`` in a ``width`` x ``height`` CSS-pixel viewport and wait for its load event."""
        self.viewport(width, height, scale=scale, mobile=mobile)
        self.goto(url)

    def evaluate(self, expression: str):
        """The value of a JavaScript expression in the page (a promise is awaited)."""
        result = self.page("Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True)
        if "exceptionDetails" in result:
            raise RuntimeError(f"script failed: {result['exceptionDetails']}")
        return result["result"].get("value")

    def wait_for(self, expression: str, timeout: float = 30):
        """Poll until the expression is truthy (the page navigates or renders on its own)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            value = self.evaluate(f"!!({expression})")
            if value:
                return value
            time.sleep(0.25)
        raise TimeoutError(f"{expression} stayed false for {timeout} s; page: {self.evaluate('location.href')}")

    def type_text(self, text: str) -> None:
        """Type into the focused element as a user would (input events fire)."""
        self.page("Input.insertText", text=text)

    def screenshot(self, path: Path, full_page: bool = True, clip: dict | None = None) -> Path:
        """The viewport, the whole page, or ``clip`` ({x, y, width, height} in page CSS pixels)."""
        params = {"format": "png"}
        if clip:
            params.update(captureBeyondViewport=True, clip={**clip, "scale": 1})
        elif full_page:
            size = self.page("Page.getLayoutMetrics")["cssContentSize"]
            params.update(captureBeyondViewport=True,
                          clip={"x": 0, "y": 0, "width": size["width"], "height": size["height"], "scale": 1})
        data = self.page("Page.captureScreenshot", **params)["data"]
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(base64.b64decode(data))
        return path

    def close(self) -> None:
        try:
            self.call("Browser.close")
        except Exception:  # noqa: BLE001 - it may close the pipe before answering
            pass
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        os.close(self._in)
        os.close(self._out)
        self._profile.cleanup()

    def __enter__(self) -> "Chromium":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
