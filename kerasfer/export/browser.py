"""Headless Chromium driven over the DevTools protocol on a pipe: no Selenium, no WebSocket library.

`Chromium(...)` starts `chromium --headless --remote-debugging-pipe` (the protocol's JSON messages, each ended by a
NUL byte, go over file descriptors 3 and 4), opens one page and offers what the web-export test and
benchmark need: `goto(url)`, `evaluate(expression)` (awaits promises, returns the value as JSON) and
`screenshot(path)`. Options `fake_camera` (a `.y4m` file Chromium plays as the webcam) and `webgpu` (SwiftShader's
CPU Vulkan as the WebGPU adapter) set the command-line switches. `find_chromium()` is where a browser is looked
for; it returns None when there is none, and callers skip.

Also here for the same callers: `install_litert_js()` (LiteRT.js from npm into a cache folder, once),
`serve_folder()` (a static server on loopback) and `write_y4m()` (frames as the raw video a fake camera plays).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import pathlib
import shutil
import subprocess
import sys
import tempfile
import threading
import time

CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable", "chrome")


class ChromiumError(RuntimeError):
    """The browser died, a protocol call failed, or a page expression threw."""


def find_chromium() -> str | None:
    """The browser to start: `$KERASFER_CHROMIUM`, else the first of `CHROMIUM_NAMES` on the PATH, or None."""
    env = os.environ.get("KERASFER_CHROMIUM")
    if env:
        return env if os.path.isfile(env) and os.access(env, os.X_OK) else None
    for name in CHROMIUM_NAMES:
        path = shutil.which(name)
        if path:
            return path
    return None


def browser_flags(fake_camera=None, webgpu: bool = False) -> list[str]:
    """Chromium's switches for a headless run (see the module docstring)."""
    flags = [
        "--headless=new",
        "--no-sandbox",  # root in containers; the page is ours and served from loopback
        "--no-first-run",
        "--no-default-browser-check",
        "--disable-extensions",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--mute-audio",
        "--hide-scrollbars",
        "--window-size=960,720",
        "--use-fake-ui-for-media-stream",  # grants the camera without a prompt
    ]
    if fake_camera is not None:
        flags += ["--use-fake-device-for-media-stream", f"--use-file-for-fake-video-capture={os.fspath(fake_camera)}"]
    if webgpu:  # WebGPU on SwiftShader (CPU Vulkan), which ships with Chromium
        flags += ["--enable-unsafe-webgpu", "--enable-features=Vulkan", "--use-vulkan=swiftshader",
                  "--use-webgpu-adapter=swiftshader", "--use-angle=swiftshader"]  # fmt: skip
    return flags


class Chromium:
    """One headless Chromium with one page (a context manager; `close()` ends the browser)."""

    def __init__(self, executable=None, *, fake_camera=None, webgpu: bool = False, extra_flags=(), timeout=60.0):
        self.executable = executable or find_chromium()
        if not self.executable:
            raise ChromiumError("No Chromium found (install it, or set KERASFER_CHROMIUM).")
        self.timeout = float(timeout)
        self._profile = tempfile.mkdtemp(prefix="kerasfer-chromium-")
        self.console: list[str] = []
        self._next_id = 0
        self._buffer = b""
        self._lock = threading.Lock()
        # The protocol's fixed descriptors: the browser reads fd 3 and writes fd 4. Our pipe ends are moved above 9
        # and a small Python trampoline puts them there before it execs the browser (no preexec_fn, which is unsafe
        # with threads running, and no shell: dash's redirections take one-digit descriptors only).
        pipe_in, self._to_browser = os.pipe()
        self._from_browser, pipe_out = os.pipe()
        child_in, child_out = (fcntl.fcntl(fd, fcntl.F_DUPFD, 10) for fd in (pipe_in, pipe_out))
        for fd in (pipe_in, pipe_out):
            os.close(fd)
        trampoline = "import os,sys; a,b=int(sys.argv[1]),int(sys.argv[2]); os.dup2(a,3); os.dup2(b,4); os.close(a); " \
                     "os.close(b); os.execv(sys.argv[3], sys.argv[3:])"  # fmt: skip
        args = [sys.executable, "-I", "-S", "-c", trampoline, str(child_in), str(child_out),
                self.executable, *browser_flags(fake_camera, webgpu), *extra_flags,
                f"--user-data-dir={self._profile}", "--remote-debugging-pipe", "about:blank"]  # fmt: skip
        self._stderr = tempfile.TemporaryFile()
        try:
            self.process = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                            stderr=self._stderr, pass_fds=(child_in, child_out))  # fmt: skip
        finally:
            os.close(child_in)
            os.close(child_out)
        try:
            target = self._call("Target.createTarget", {"url": "about:blank"})["targetId"]
            self._session = self._call("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
            self.call("Runtime.enable")
            self.call("Page.enable")
        except BaseException:
            self.close()
            raise

    # -- protocol -----------------------------------------------------------------------------------------------
    def _send(self, message: dict) -> None:
        os.write(self._to_browser, json.dumps(message).encode() + b"\0")

    def _read_message(self, deadline: float) -> dict:
        while b"\0" not in self._buffer:
            if time.monotonic() > deadline:
                raise ChromiumError("Chromium did not answer in time.")
            import select

            ready, _, _ = select.select([self._from_browser], [], [], 0.2)
            if not ready:
                if self.process.poll() is not None:
                    raise ChromiumError(f"Chromium exited (status {self.process.returncode}): {self.stderr_tail()}")
                continue
            chunk = os.read(self._from_browser, 1 << 20)
            if not chunk:
                raise ChromiumError(f"Chromium closed the pipe: {self.stderr_tail()}")
            self._buffer += chunk
        raw, _, self._buffer = self._buffer.partition(b"\0")
        return json.loads(raw)

    def _call(self, method: str, params=None, session=None, timeout=None) -> dict:
        with self._lock:
            self._next_id += 1
            message = {"id": self._next_id, "method": method, "params": params or {}}
            if session:
                message["sessionId"] = session
            self._send(message)
            deadline = time.monotonic() + (timeout or self.timeout)
            while True:
                reply = self._read_message(deadline)
                if reply.get("method") == "Runtime.consoleAPICalled":
                    args = reply["params"].get("args", [])
                    self.console.append(" ".join(str(a.get("value", a.get("description", ""))) for a in args))
                elif reply.get("method") == "Runtime.exceptionThrown":
                    self.console.append(str(reply["params"]["exceptionDetails"].get("exception", {})))
                if reply.get("id") == message["id"]:
                    if "error" in reply:
                        raise ChromiumError(f"{method}: {reply['error'].get('message')}")
                    return reply.get("result", {})

    def call(self, method: str, params=None, timeout=None) -> dict:
        """One protocol command on the page's session; its result."""
        return self._call(method, params, self._session, timeout)

    # -- page -----------------------------------------------------------------------------------------------------
    def goto(self, url: str, timeout=None) -> None:
        """Loads `url` and waits until its `load` event has fired."""
        self.call("Page.navigate", {"url": url}, timeout)
        self.wait_for("document.readyState === 'complete'", timeout=timeout)

    def evaluate(self, expression: str, timeout=None):
        """The JSON value of a page expression (a promise is awaited); a ChromiumError when it throws."""
        result = self.call(
            "Runtime.evaluate",
            {"expression": expression, "awaitPromise": True, "returnByValue": True},
            timeout=timeout,
        )
        if "exceptionDetails" in result:
            details = result["exceptionDetails"]
            text = details.get("exception", {}).get("description") or details.get("text")
            raise ChromiumError(f"The page threw: {text}")
        return result["result"].get("value")

    def wait_for(self, expression: str, timeout=None, interval: float = 0.1):
        """Polls a page expression until it is truthy; returns its value (a ChromiumError after `timeout`)."""
        deadline = time.monotonic() + (timeout or self.timeout)
        while True:
            value = self.evaluate(expression)
            if value:
                return value
            if time.monotonic() > deadline:
                raise ChromiumError(f"Timed out waiting for {expression!r}; console: {self.console[-5:]}")
            time.sleep(interval)

    def screenshot(self, path) -> str:
        """Saves the page as a PNG; returns the path."""
        import base64

        data = self.call("Page.captureScreenshot", {"format": "png"})["data"]
        with open(path, "wb") as f:
            f.write(base64.b64decode(data))
        return os.fspath(path)

    def stderr_tail(self, n: int = 2000) -> str:
        self._stderr.seek(0)
        return self._stderr.read().decode(errors="replace")[-n:]

    def close(self) -> None:
        if self.process.poll() is None:
            try:
                self._call("Browser.close", timeout=5)
            except (ChromiumError, OSError):
                pass
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        for fd in (self._to_browser, self._from_browser):
            try:
                os.close(fd)
            except OSError:
                pass
        self._stderr.close()
        shutil.rmtree(self._profile, ignore_errors=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


# -- what the page needs around the browser -----------------------------------------------------------------------
def npm_cache_dir() -> pathlib.Path:
    """Where `install_litert_js` installs: `$KERASFER_NPM_CACHE`, else `$XDG_CACHE_HOME/kerasfer/npm`."""
    env = os.environ.get("KERASFER_NPM_CACHE")
    if env:
        return pathlib.Path(env)
    return pathlib.Path(os.environ.get("XDG_CACHE_HOME") or pathlib.Path.home() / ".cache") / "kerasfer" / "npm"


def install_litert_js(version=None, cache_dir=None, timeout: float = 300.0) -> pathlib.Path:
    """`node_modules/@litertjs/core` of `npm install @litertjs/core@VERSION` in `cache_dir` (done once: an install
    of that version is reused). Default version: `kerasfer.export.web.LITERT_JS_VERSION`.

    Raises:
        ChromiumError: no npm, or the install failed (the message says why).
    """
    from kerasfer.export.web import LITERT_JS_VERSION

    version = version or LITERT_JS_VERSION
    cache = pathlib.Path(cache_dir) if cache_dir else npm_cache_dir()
    core = cache / "node_modules" / "@litertjs" / "core"
    try:
        if json.loads((core / "package.json").read_text()).get("version") == version:
            return core
    except (OSError, ValueError):
        pass
    npm = shutil.which("npm")
    if not npm:
        raise ChromiumError("npm not found: cannot install LiteRT.js (@litertjs/core).")
    cache.mkdir(parents=True, exist_ok=True)
    if not (cache / "package.json").exists():
        (cache / "package.json").write_text('{"private": true}\n')
    try:
        run = subprocess.run(
            [npm, "install", "--no-audit", "--no-fund", "--loglevel=error", f"@litertjs/core@{version}"],
            cwd=cache, capture_output=True, text=True, timeout=timeout,
        )  # fmt: skip
    except subprocess.TimeoutExpired:
        raise ChromiumError(f"npm install @litertjs/core@{version} took over {timeout:.0f} s.") from None
    if run.returncode != 0 or not (core / "package.json").is_file():
        tail = (run.stderr or run.stdout).strip().splitlines()[-1:] or ["no output"]
        raise ChromiumError(f"npm install @litertjs/core@{version} failed: {tail[0]}")
    return core


@contextlib.contextmanager
def serve_folder(folder):
    """Serves `folder` over HTTP on 127.0.0.1 (a free port) while the block runs; yields the base URL."""
    import functools
    import http.server

    class Handler(http.server.SimpleHTTPRequestHandler):
        extensions_map = {**http.server.SimpleHTTPRequestHandler.extensions_map, ".wasm": "application/wasm",
                          ".js": "text/javascript"}  # fmt: skip

        def log_message(self, *args):
            pass

    class Server(http.server.ThreadingHTTPServer):
        def handle_error(self, request, client_address):  # a browser closing mid-response is no error here
            pass

    server = Server(("127.0.0.1", 0), functools.partial(Handler, directory=os.fspath(folder)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()


def write_y4m(path, frames, fps: int = 25) -> str:
    """Writes RGB uint8 frames `(N, H, W, 3)` (even H and W) as a 4:2:0 YUV4MPEG2 file, the format Chromium's
    `--use-file-for-fake-video-capture` plays (in a loop)."""
    import cv2
    import numpy as np

    frames = np.asarray(frames, np.uint8)
    n, h, w = frames.shape[:3]
    if h % 2 or w % 2:
        raise ValueError(f"y4m 4:2:0 frames need an even size; got {w}x{h}.")
    with open(path, "wb") as f:
        f.write(f"YUV4MPEG2 W{w} H{h} F{int(fps)}:1 Ip A1:1 C420jpeg\n".encode())
        for frame in frames:
            f.write(b"FRAME\n")
            f.write(cv2.cvtColor(frame, cv2.COLOR_RGB2YUV_I420).tobytes())
    return os.fspath(path)
