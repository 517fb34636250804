"""Stopping a training run at a step boundary on Ctrl-C or SIGTERM (`DeferredInterrupt`)."""

import signal
import threading


class DeferredInterrupt:
    """While training, a first Ctrl-C (SIGINT) or SIGTERM stops the run at the next step
    boundary.

    Python raises KeyboardInterrupt between any two bytecodes: landing between a step's update
    and the step counter, it would leave a checkpoint whose weights are one update ahead of its
    step, and the resumed run would train that step twice. Inside this context the first SIGINT
    only sets `requested`, which the loop reads once a step is counted, logged and
    checkpointed; a second one raises KeyboardInterrupt at once. SIGTERM (what `kill`, job
    schedulers and container runtimes send) is handled the same way, so that a terminated run
    saves a checkpoint at a step boundary instead of dying mid-step or mid-save. Installed only
    in the main thread and only over the default handlers (Python's KeyboardInterrupt for
    SIGINT, SIG_DFL for SIGTERM): an ignored or custom handler stays as it is. A background
    job started from a non-interactive shell has SIGINT ignored; SIGTERM still works there.
    """

    _DEFAULTS = {signal.SIGINT: signal.default_int_handler, signal.SIGTERM: signal.SIG_DFL}

    def __init__(self):
        self.requested = False
        self._previous = {}

    def __enter__(self):
        if threading.current_thread() is threading.main_thread():
            for signum, default in self._DEFAULTS.items():
                if signal.getsignal(signum) is default:
                    self._previous[signum] = signal.signal(signum, self._request)
        return self

    def _request(self, signum, frame):
        del signum, frame
        if self.requested:
            raise KeyboardInterrupt
        self.requested = True

    def __exit__(self, *exc_info):
        for signum, previous in self._previous.items():
            signal.signal(signum, previous)
        self._previous = {}
        return False
