"""A seccomp filter that closes the kernel interfaces a model loader never needs.

Built with libseccomp (through ``pyseccomp``) rather than hand-written BPF, so architecture checks and
syscall numbering are right on every platform. Denied calls fail with EPERM instead of killing the
process, so the evidence recorder can still report what was attempted.
"""

from __future__ import annotations

import errno
import socket

# Internet and raw sockets: the network, whatever the namespace setup.
_DENIED_FAMILIES = (socket.AF_INET, socket.AF_INET6, getattr(socket, "AF_PACKET", 17))

# Debugging other processes, changing the mount table or namespaces, kernel modules and eBPF,
# and io_uring, which performs socket and file operations outside of seccomp's view.
DENIED_SYSCALLS = (
    "ptrace",
    "process_vm_readv",
    "process_vm_writev",
    "mount",
    "umount2",
    "pivot_root",
    "chroot",
    "unshare",
    "setns",
    "bpf",
    "perf_event_open",
    "userfaultfd",
    "kexec_load",
    "kexec_file_load",
    "init_module",
    "finit_module",
    "delete_module",
    "open_by_handle_at",
    "name_to_handle_at",
    "keyctl",
    "add_key",
    "request_key",
    "swapon",
    "swapoff",
    "reboot",
    "acct",
    "settimeofday",
    "clock_settime",
    "io_uring_setup",
    "io_uring_enter",
    "io_uring_register",
    "fsopen",
    "fsmount",
    "move_mount",
    "open_tree",
)


class SeccompUnavailable(RuntimeError):
    """libseccomp or its Python binding is missing."""


def install() -> str:
    """Load the filter into this process; it is inherited by everything it executes."""
    try:
        import pyseccomp  # type: ignore[import-untyped]
    except (ImportError, RuntimeError, OSError) as exc:  # RuntimeError: libseccomp.so not found
        raise SeccompUnavailable(f"pyseccomp/libseccomp unavailable: {exc}") from exc
    deny = pyseccomp.ERRNO(errno.EPERM)
    flt = pyseccomp.SyscallFilter(defaction=pyseccomp.ALLOW)
    skipped = []
    for name in DENIED_SYSCALLS:
        try:
            flt.add_rule(deny, name)
        except (ValueError, RuntimeError, OSError):  # not a syscall on this architecture
            skipped.append(name)
    for family in _DENIED_FAMILIES:
        flt.add_rule(deny, "socket", pyseccomp.Arg(0, pyseccomp.EQ, family))
    flt.load()
    note = f" ({len(skipped)} unknown here)" if skipped else ""
    return f"internet/raw sockets and {len(DENIED_SYSCALLS) - len(skipped)} syscalls denied{note}"
