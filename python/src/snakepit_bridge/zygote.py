"""The zygote: a fork server that imports a pool's heavy modules once and forks workers.

``python -m snakepit_bridge.zygote --adapter module:Class [--preload numpy,my_models]``

This module owns the zygote's whole life (the host side is ``crates/snakepit/src/zygote/``,
the design in ``docs/design/zygote.md``):

1. import every ``--preload`` module, then the adapter's module (and with it the worker
   runtime), then call the adapter class's ``preload()`` hook when it has one;
2. send ``{"op": "ready", "preloaded": [...], "pid": ...}`` on the control socket
   (``SNAKEPIT_FD``, a ``SOCK_SEQPACKET`` socket: one JSON message per packet);
3. for each ``{"op": "fork", "id": N, "fds": [targets], "env": {...}}`` (the descriptors
   ride along with ``SCM_RIGHTS``, one per target, in order): fork; the child places each
   descriptor at its target number, takes the environment additions, leaves the zygote's
   process group and runs the worker runtime; the zygote answers ``{"op": "forked", "id": N,
   "pid": P}`` (or ``{"op": "failed", "id": N, "error": ...}``);
4. reap every child that ends and report ``{"op": "exited", "pid": P, "status": S}`` (the raw
   wait status);
5. exit when the control socket reaches end-of-file (the host is gone). Forked workers do
   not follow it: each lives as long as its own link.

The zygote never starts a thread: ``fork`` copies only the calling thread, so a lock held by
another thread at that moment would stay locked forever in the child.
"""

from __future__ import annotations

import json
import os
import select
import signal
import socket
import sys
import traceback

#: The most descriptors one fork request may carry.
MAX_FDS = 16
#: The largest control message, in bytes.
MAX_MESSAGE = 1 << 16


def _log(text: str) -> None:
    sys.stderr.write(f"snakepit zygote: {text}\n")
    sys.stderr.flush()


def _parse(argv: list[str]) -> tuple[str, list[str]]:
    """``--adapter SPEC`` and ``--preload a,b`` (repeatable), without argparse's import cost."""
    adapter = os.environ.get("SNAKEPIT_ADAPTER", "")
    preload: list[str] = []
    args = iter(argv)
    for arg in args:
        if arg == "--adapter":
            adapter = next(args, "")
        elif arg == "--preload":
            preload.extend(name for name in next(args, "").split(",") if name)
        else:
            raise SystemExit(f"snakepit zygote: unknown argument {arg!r}")
    if not adapter:
        raise SystemExit("snakepit zygote: --adapter module:Class is required")
    return adapter, preload


def preload_modules(adapter_spec: str, modules: list[str]) -> list[str]:
    """Import the preload modules, the adapter and the runtime; run the adapter's hook."""
    import importlib

    for name in modules:
        importlib.import_module(name)
    from .runtime import load_adapter_class

    adapter_class = load_adapter_class(adapter_spec)
    hook = getattr(adapter_class, "preload", None)
    if callable(hook):
        hook()
    # Import what serving a call needs, so no worker pays for it.
    from . import inline  # noqa: F401

    return list(modules)


class Zygote:
    """The fork server's loop: fork requests in, pids and exit statuses out."""

    def __init__(self, control: socket.socket, adapter_spec: str) -> None:
        self.control = control
        self.adapter_spec = adapter_spec
        self.wake_read, self.wake_write = os.pipe()
        os.set_blocking(self.wake_read, False)
        os.set_blocking(self.wake_write, False)

    def send(self, message: dict[str, object]) -> None:
        """Send one control message (one packet)."""
        self.control.send(json.dumps(message).encode())

    def serve(self) -> int:
        """Serve fork requests until the host closes the control socket."""
        signal.set_wakeup_fd(self.wake_write)
        signal.signal(signal.SIGCHLD, lambda *_: None)
        while True:
            self.reap()
            control = self.control.fileno()
            readable, _, _ = select.select([control, self.wake_read], [], [])
            if self.wake_read in readable:
                try:
                    while os.read(self.wake_read, 512):
                        pass
                except BlockingIOError:
                    pass
            if control in readable:
                message, fds, _flags, _address = socket.recv_fds(self.control, MAX_MESSAGE, MAX_FDS)
                if not message:
                    return 0
                try:
                    self.handle(json.loads(message), fds)
                finally:
                    for fd in fds:
                        os.close(fd)

    def handle(self, request: dict[str, object], fds: list[int]) -> None:
        """Fork one worker for a ``fork`` request."""
        ident = request.get("id")
        targets = request.get("fds")
        env = request.get("env") or {}
        if (
            request.get("op") != "fork"
            or not isinstance(targets, list)
            or len(targets) != len(fds)
            or not isinstance(env, dict)
        ):
            self.send({"op": "failed", "id": ident, "error": "malformed fork request"})
            return
        # Buffered output would be written again by every child.
        sys.stdout.flush()
        sys.stderr.flush()
        try:
            pid = os.fork()
        except OSError as exc:
            self.send({"op": "failed", "id": ident, "error": f"fork failed: {exc}"})
            return
        if pid == 0:
            self.become_worker([int(t) for t in targets], fds, env)
        try:
            # Both sides set the group, so it exists before the host may signal it.
            os.setpgid(pid, pid)
        except OSError:
            pass
        self.send({"op": "forked", "id": ident, "pid": pid})

    def reap(self) -> None:
        """Report every child that ended."""
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            self.send({"op": "exited", "pid": pid, "status": status})

    def become_worker(self, targets: list[int], fds: list[int], env: dict[str, str]) -> None:
        """In the forked child: leave the zygote behind and run the worker. Never returns."""
        code = 70
        try:
            os.setpgid(0, 0)
            signal.set_wakeup_fd(-1)
            signal.signal(signal.SIGCHLD, signal.SIG_DFL)
            os.close(self.control.detach())
            os.close(self.wake_read)
            os.close(self.wake_write)
            # Move every received descriptor out of the way first, so placing one at its
            # target never overwrites another that is still to be placed.
            import fcntl

            high = [fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 64) for fd in fds]
            for fd in fds:
                os.close(fd)
            fds.clear()
            for fd, target in zip(high, targets):
                os.dup2(fd, target, inheritable=True)
                os.close(fd)
            os.environ.pop("SNAKEPIT_ZYGOTE", None)
            os.environ.update({str(k): str(v) for k, v in env.items()})
            from .runtime import main

            code = main(self.adapter_spec)
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 1
        except BaseException:
            traceback.print_exc()
        finally:
            try:
                # What a spawned worker's interpreter does at exit; the zygote's own loop
                # must never run again in this process, so it ends here.
                import atexit

                atexit._run_exitfuncs()
                sys.stdout.flush()
                sys.stderr.flush()
            finally:
                os._exit(code)


def main(argv: list[str] | None = None) -> int:
    """Run a zygote on the control socket the host passed as ``SNAKEPIT_FD``."""
    adapter_spec, modules = _parse(sys.argv[1:] if argv is None else argv)
    raw_fd = os.environ.get("SNAKEPIT_FD")
    if not raw_fd:
        _log("no control socket (SNAKEPIT_FD)")
        return 2
    control = socket.socket(fileno=int(raw_fd))
    os.set_inheritable(control.fileno(), False)
    try:
        preloaded = preload_modules(adapter_spec, modules)
    except BaseException as exc:
        _log(f"preloading failed: {type(exc).__name__}: {exc}")
        traceback.print_exc()
        return 3
    import threading

    if threading.active_count() > 1:
        _log(
            f"preload left {threading.active_count() - 1} thread(s) running; "
            "they do not exist in forked workers (see docs/design/zygote.md)"
        )
    zygote = Zygote(control, adapter_spec)
    zygote.send({"op": "ready", "pid": os.getpid(), "preloaded": preloaded})
    return zygote.serve()


if __name__ == "__main__":
    sys.exit(main())
