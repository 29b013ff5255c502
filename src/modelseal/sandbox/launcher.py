"""The first program inside the sandbox: applies every layer the host allows, reports them, then execs.

It runs as a fresh single-threaded interpreter (required by ``unshare`` of a user namespace), so the
layers are in force before one instruction of the command runs. Its only output is one JSON line on the
status descriptor the supervisor handed it; the command gets the descriptors 0-2 and nothing else.
"""

from __future__ import annotations

import ctypes
import json
import os
import resource
import sys
from typing import Any

from modelseal.sandbox import landlock, namespaces, seccomp
from modelseal.sandbox.config import EXIT_REFUSED
from modelseal.sandbox.layers import (
    LANDLOCK_FS,
    LANDLOCK_NET,
    NAMESPACES,
    NO_NEW_PRIVS,
    RLIMITS,
    SECCOMP,
    IsolationLevel,
    Layer,
    level_of,
)

EXIT_EXEC_FAILED = 127
_PR_SET_NO_NEW_PRIVS = 38


def _count_own_processes() -> int:
    uid = os.getuid()
    count = 0
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            try:
                count += entry.stat().st_uid == uid
            except OSError:
                continue
    return count


def _rlimits(spec: dict[str, Any], in_userns: bool) -> Layer:
    nproc = int(spec["max_processes"])
    note = f"processes {nproc}"
    if not in_userns:
        # Outside a user namespace the count covers every process of this user on the host,
        # and root is exempt altogether.
        nproc += _count_own_processes()
    if os.getuid() == 0:  # the kernel never applies RLIMIT_NPROC to uid 0, namespaced or not
        note = "processes: RLIMIT_NPROC does not bind root" + (
            "; the supervisor counts the pid namespace instead"
            if in_userns
            else " and nothing else counts them"
        )
    limits = (
        (resource.RLIMIT_AS, int(spec["memory_bytes"])),
        (resource.RLIMIT_CPU, int(spec["cpu_seconds"])),
        (resource.RLIMIT_NPROC, nproc),
        (resource.RLIMIT_FSIZE, int(spec["max_file_bytes"])),
        (resource.RLIMIT_NOFILE, int(spec["max_open_files"])),
        (resource.RLIMIT_CORE, 0),
    )
    try:
        for which, value in limits:
            _, hard = resource.getrlimit(which)
            capped = value if hard == resource.RLIM_INFINITY else min(value, hard)
            resource.setrlimit(which, (capped, capped))
    except (OSError, ValueError) as exc:
        return Layer(RLIMITS, False, f"setrlimit failed: {exc}")
    return Layer(
        RLIMITS,
        True,
        f"memory {spec['memory_bytes']} B, cpu {spec['cpu_seconds']} s, {note}, "
        f"file size {spec['max_file_bytes']} B, open files {spec['max_open_files']}",
    )


def _no_new_privs() -> Layer:
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(_PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
        return Layer(NO_NEW_PRIVS, False, os.strerror(ctypes.get_errno()))
    return Layer(NO_NEW_PRIVS, True, "setuid binaries and file capabilities cannot raise privileges")


def _landlock(spec: dict[str, Any]) -> list[Layer]:
    if not spec["landlock"]:
        return [Layer(LANDLOCK_FS, False, "turned off"), Layer(LANDLOCK_NET, False, "turned off")]
    abi = landlock.abi_version()
    try:
        detail = landlock.restrict(spec["writable"], abi)
    except OSError as exc:
        return [Layer(LANDLOCK_FS, False, str(exc)), Layer(LANDLOCK_NET, False, str(exc))]
    net = (
        Layer(LANDLOCK_NET, True, f"ABI {abi}") if abi >= 4 else Layer(LANDLOCK_NET, False, f"ABI {abi} < 4")
    )
    return [Layer(LANDLOCK_FS, True, detail), net]


def _seccomp(spec: dict[str, Any]) -> Layer:
    if not spec["seccomp"]:
        return Layer(SECCOMP, False, "turned off")
    try:
        return Layer(SECCOMP, True, seccomp.install())
    except (seccomp.SeccompUnavailable, OSError, RuntimeError, ValueError) as exc:
        return Layer(SECCOMP, False, str(exc))


def _exit_like(status: int) -> None:
    if os.WIFSIGNALED(status):
        sig = os.WTERMSIG(status)
        os.kill(os.getpid(), sig)
        os._exit(128 + sig)
    os._exit(os.waitstatus_to_exitcode(status))


def main(argv: list[str]) -> None:
    spec = json.loads(argv[0])
    command = argv[1:]
    status_fd = int(spec["status_fd"])
    layers: list[Layer] = []
    in_userns = False
    if spec["namespaces"]:
        try:
            layers.append(Layer(NAMESPACES, True, namespaces.enter()))
            in_userns = True
        except OSError as exc:
            layers.append(Layer(NAMESPACES, False, str(exc)))
    else:
        layers.append(Layer(NAMESPACES, False, "turned off"))
    if in_userns:
        status = namespaces.fork_init()
        if status is not None:  # the parent outside the pid namespace: only relays the exit status
            os.close(status_fd)
            _exit_like(status)
    layers.append(_rlimits(spec, in_userns))
    layers.append(_no_new_privs())
    layers.extend(_landlock(spec))
    layers.append(_seccomp(spec))
    level = level_of(layers)
    required = IsolationLevel.parse(spec["min_level"])
    refused = "" if level >= required else f"isolation {level.label} is below the required {required.label}"
    report = {
        "level": level.label,
        "layers": [layer.to_json() for layer in layers],
        "refused": refused,
        "pidns": os.readlink("/proc/self/ns/pid") if in_userns else "",
    }
    os.write(status_fd, json.dumps(report).encode() + b"\n")
    os.close(status_fd)
    if refused:
        os._exit(EXIT_REFUSED)
    try:
        os.chdir(spec["cwd"])
        os.execvp(command[0], command)
    except OSError as exc:
        os.write(2, f"modelseal sandbox: cannot run {command[0]!r}: {exc}\n".encode())
        os._exit(EXIT_EXEC_FAILED)


if __name__ == "__main__":
    main(sys.argv[1:])
