"""Tar archives (and the legacy PyTorch tar layout, old V7 headers included), read as a stream: no seeking,
no extraction to disk."""

from __future__ import annotations

import tarfile

from modelseal.core.findings import Finding, Location
from modelseal.core.rules import make_finding
from modelseal.core.streams import ByteSource, FileRaw
from modelseal.scanners.interface import ScanContext, ScanInput, Scanner, ScanOutcome
from modelseal.scanners.repofiles import unsafe_member_name

_LEGACY_TORCH = {"sys_info", "pickle", "storages", "tensors"}
_TORCH_RECORDS = frozenset({"storages", "tensors"})


class _SourceFile:
    """File-like view of a ByteSource for :mod:`tarfile`'s streaming mode."""

    def __init__(self, src: ByteSource) -> None:
        self._src = src

    def read(self, n: int = -1) -> bytes:
        return self._src.read_upto(n if n >= 0 else 1 << 30)


class TarScanner(Scanner):
    format = "tar"

    def scan(self, item: ScanInput, ctx: ScanContext) -> ScanOutcome:
        findings: list[Finding] = []
        names: set[str] = set()
        count = 0
        try:
            with tarfile.open(fileobj=_SourceFile(item.source), mode="r|") as tf:  # type: ignore[call-overload]
                for member in tf:
                    count += 1
                    if count > ctx.limits.max_members:
                        findings.append(
                            make_finding(
                                "MS-LIMIT-EXCEEDED",
                                f"more than {ctx.limits.max_members} members; rest not analysed",
                            )
                        )
                        break
                    names.add(member.name)
                    findings.extend(self._member(tf, member, ctx))
        except (tarfile.TarError, OSError, EOFError, ValueError) as exc:
            findings.append(make_finding("MS-ARCHIVE-MALFORMED", f"tar archive is damaged: {exc}"))
        fmt = "pytorch-legacy-tar" if names >= _LEGACY_TORCH else "tar"
        return ScanOutcome(fmt, tuple(findings))

    def _member(self, tf: tarfile.TarFile, member: tarfile.TarInfo, ctx: ScanContext) -> list[Finding]:
        loc = Location(member.name)
        out: list[Finding] = []
        why = unsafe_member_name(member.name)
        if why:
            out.append(
                make_finding("MS-ZIP-PATH-TRAVERSAL", f"member {member.name!r} has an {why}", location=loc)
            )
        if member.issym() or member.islnk():
            target = member.linkname
            if unsafe_member_name(target) or (member.issym() and target.startswith("/")):
                out.append(
                    make_finding(
                        "MS-FILE-LINK-ESCAPE",
                        f"link member {member.name!r} points to {target!r}",
                        location=loc,
                    )
                )
            return out
        if not member.isfile():
            return out
        fileobj = tf.extractfile(member)
        if fileobj is None:
            return out
        ctx.budget.add_decompressed(member.size, ctx.limits)
        item = ScanInput(ByteSource(FileRaw(fileobj)), member.name, member.size)  # type: ignore[arg-type]
        if member.name in _TORCH_RECORDS and item.head[:1] == b"\x80":
            # torch.load of any tar extracts these by name and reads them record by record
            from modelseal.scanners.pickle.scanner import scan_torch_records

            out.extend(
                f.within(member.name) for f in scan_torch_records(item, ctx.deeper(), member.name).findings
            )
        else:
            out.extend(ctx.nested(item).findings)
        return out
