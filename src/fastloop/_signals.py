"""Signal handlers for the loop (asyncio's add_signal_handler API).

The C-level signal handler only records the signal and writes its number to
the loop's self-pipe (``signal.set_wakeup_fd``); the scheduler reads the
number and calls ``_handle_signal``, which queues the user's callback. While
a loop runs in the main thread the self-pipe is the wake-up fd even with no
handler registered (unless the application set one of its own), so a
Python-level handler (Ctrl-C in ``asyncio.run``) wakes the poll even when
the signal lands on another thread.
"""

import errno
import signal
import sys
import threading
import warnings
from asyncio import iscoroutine

from . import _asyncio_private as aio_private
from ._handles import Handle
from ._scheduler import logger


def _sighandler_noop(signum, frame):
    """Dummy handler: Python only writes the signal number to the wake-up fd."""


def _in_main_thread():
    return threading.current_thread() is threading.main_thread()


def _check_signal(sig):
    if not isinstance(sig, int):
        raise TypeError(f"sig must be an int, not {sig!r}")
    if sig not in signal.valid_signals():
        raise ValueError(f"invalid signal number {sig}")


class SignalHandling:
    """The signal half of Loop; expects the Scheduler's self-pipe."""

    def _init_signals(self):
        self._signal_handlers = {}
        self._saved_wakeup_fd = None

    def add_signal_handler(self, sig, callback, *args):
        """Add a handler for a signal. UNIX only.

        Raise ValueError if the signal number is invalid or uncatchable.
        Raise RuntimeError if there is a problem setting up the handler.
        """
        if iscoroutine(callback) or aio_private.iscoroutinefunction(callback):
            raise TypeError("coroutines cannot be used with add_signal_handler()")
        _check_signal(sig)
        self._check_closed()
        try:
            # Raises ValueError outside the main thread: a loop running in
            # another thread cannot take over a signal.
            signal.set_wakeup_fd(self._self_writer.fileno(), warn_on_full_buffer=False)
        except (ValueError, OSError) as exc:
            raise RuntimeError(str(exc))

        self._signal_handlers[sig] = Handle(callback, args, self, None)
        try:
            signal.signal(sig, _sighandler_noop)
            # SA_RESTART keeps other threads' system calls from EINTR.
            signal.siginterrupt(sig, False)
        except OSError as exc:
            del self._signal_handlers[sig]
            if not self._signal_handlers:
                self._release_wakeup_fd()
            if exc.errno == errno.EINVAL:
                raise RuntimeError(f"sig {sig:d} cannot be caught")
            raise

    def remove_signal_handler(self, sig):
        """Remove a handler for a signal. UNIX only.

        Return True if a signal handler was removed, False if not.
        """
        _check_signal(sig)
        try:
            del self._signal_handlers[sig]
        except KeyError:
            return False

        handler = signal.default_int_handler if sig == signal.SIGINT else signal.SIG_DFL
        try:
            signal.signal(sig, handler)
        except OSError as exc:
            if exc.errno == errno.EINVAL:
                raise RuntimeError(f"sig {sig:d} cannot be caught")
            raise
        if not self._signal_handlers:
            self._release_wakeup_fd()
        return True

    def _handle_signal(self, sig):
        handle = self._signal_handlers.get(sig)
        if handle is None:
            # A signal with a Python-level handler only, or a race with
            # remove_signal_handler().
            return
        if handle._cancelled:
            self.remove_signal_handler(sig)
        else:
            self._ready.append(handle)

    def _release_wakeup_fd(self):
        # While the loop runs in the main thread the wake-up fd stays ours
        # (see _claim_wakeup_fd); otherwise hand it back.
        if self.is_running() and self._saved_wakeup_fd is not None:
            return
        try:
            signal.set_wakeup_fd(-1)
        except (ValueError, OSError) as exc:
            logger.info("set_wakeup_fd(-1) failed: %s", exc)

    def _claim_wakeup_fd(self):
        """On run: route every signal through the self-pipe (main thread)."""
        if not _in_main_thread():
            return
        own_fd = self._self_writer.fileno()
        try:
            previous = signal.set_wakeup_fd(own_fd, warn_on_full_buffer=False)
        except (ValueError, OSError):
            self._saved_wakeup_fd = None
            return
        if previous not in (-1, own_fd):
            # The application's (or another loop's): it keeps it.
            signal.set_wakeup_fd(previous)
            self._saved_wakeup_fd = None
            return
        # Free, or already ours (add_signal_handler set it): once the last
        # handler is gone, asyncio leaves no wake-up fd.
        self._saved_wakeup_fd = -1

    def _restore_wakeup_fd(self):
        saved = self._saved_wakeup_fd
        if saved is None:
            return
        self._saved_wakeup_fd = None
        if self._signal_handlers:
            return
        try:
            signal.set_wakeup_fd(saved)
        except (ValueError, OSError) as exc:
            logger.info("set_wakeup_fd(%d) failed: %s", saved, exc)

    def _remove_all_signal_handlers(self):
        if not sys.is_finalizing():
            for sig in list(self._signal_handlers):
                self.remove_signal_handler(sig)
        elif self._signal_handlers:
            warnings.warn(f"Closing the loop {self!r} on interpreter shutdown "
                          f"stage, skipping signal handlers removal",
                          ResourceWarning, source=self)
            self._signal_handlers.clear()
