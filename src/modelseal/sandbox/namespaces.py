"""Linux namespaces for the sandbox: no network device, no privileges on the host, a private pid space.

``unshare(2)`` is called through ctypes (``os.unshare`` only exists from Python 3.12). A user namespace
comes first so this works unprivileged where the host permits it, and so that even root loses its
capabilities over the host (which also makes ``RLIMIT_NPROC`` apply to it).
"""

from __future__ import annotations

import ctypes
import os
import signal

CLONE_NEWNS = 0x00020000
CLONE_NEWUTS = 0x04000000
CLONE_NEWIPC = 0x08000000
CLONE_NEWUSER = 0x10000000
CLONE_NEWPID = 0x20000000
CLONE_NEWNET = 0x40000000
_PR_SET_PDEATHSIG = 1


class NamespaceError(OSError):
    """The host refused to create the namespaces."""


def enter() -> str:
    """Move this (single-threaded) process into new user, network, ipc, uts and pid namespaces.

    The pid namespace applies to children only: call :func:`fork_init` next.
    """
    uid, gid = os.getuid(), os.getgid()
    libc = ctypes.CDLL(None, use_errno=True)
    flags = CLONE_NEWUSER | CLONE_NEWNET | CLONE_NEWIPC | CLONE_NEWUTS | CLONE_NEWPID
    if libc.unshare(ctypes.c_int(flags)) != 0:
        err = ctypes.get_errno()
        raise NamespaceError(err, f"unshare: {os.strerror(err)}")
    # Map our own ids only: files keep their owners and nobody else's id exists inside.
    for name, text in (("setgroups", "deny"), ("uid_map", f"{uid} {uid} 1"), ("gid_map", f"{gid} {gid} 1")):
        with open(f"/proc/self/{name}", "w", encoding="ascii") as fh:
            fh.write(text)
    return "user, network, ipc, uts and pid namespaces (no network device, no host privileges)"


def fork_init() -> int | None:
    """Fork the first process of the new pid namespace.

    In the child (pid 1 there) returns None; when it exits the kernel kills every process left in the
    namespace, including those that left the process group. In the parent, waits and returns the wait
    status, so the caller can exit the same way.
    """
    pid = os.fork()
    if pid == 0:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        return None
    while True:
        try:
            _, status = os.waitpid(pid, 0)
            return status
        except ChildProcessError:
            return 0
        except InterruptedError:
            continue
