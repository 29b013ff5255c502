"""7z archives through py7zr (optional extra ``archives``): sizes checked before anything is extracted,
members extracted one at a time into a private temporary folder and scanned from there."""

from __future__ import annotations

import tempfile
from pathlib import Path

from modelseal.core.findings import Finding, Location
from modelseal.core.rules import make_finding
from modelseal.core.streams import ByteSource
from modelseal.scanners.interface import ScanContext, ScanInput, Scanner, ScanOutcome
from modelseal.scanners.repofiles import unsafe_member_name


class SevenZipScanner(Scanner):
    format = "7z"

    def scan(self, item: ScanInput, ctx: ScanContext) -> ScanOutcome:
        try:
            import py7zr
        except ImportError:
            return ScanOutcome(
                "7z",
                (
                    make_finding(
                        "MS-FORMAT-NOT-ANALYSED", "7z archive not analysed: install modelseal[archives]"
                    ),
                ),
            )
        findings: list[Finding] = []
        fh = ctx.seekable(item)
        packed_total = fh.seek(0, 2)
        fh.seek(0)
        try:
            with py7zr.SevenZipFile(fh, mode="r") as archive:
                entries = archive.list()
                if len(entries) > ctx.limits.max_members:
                    return ScanOutcome(
                        "7z",
                        (
                            make_finding(
                                "MS-LIMIT-EXCEEDED",
                                f"{len(entries)} members exceed the limit of {ctx.limits.max_members}",
                            ),
                        ),
                    )
                safe: list[str] = []
                for entry in entries:
                    name = entry.filename
                    why = unsafe_member_name(name)
                    if why:
                        findings.append(
                            make_finding(
                                "MS-ZIP-PATH-TRAVERSAL",
                                f"member {name!r} has an {why}",
                                location=Location(name),
                            )
                        )
                        continue
                    if entry.is_directory:
                        continue
                    size = entry.uncompressed or 0
                    limits = ctx.limits
                    # In a solid block only the block's first member has a packed size: for the others the
                    # whole archive bounds what they were packed from (1 would call any large one a bomb)
                    packed = entry.compressed or packed_total
                    if size > limits.bomb_min_bytes and size > limits.max_compression_ratio * max(packed, 1):
                        findings.append(
                            make_finding(
                                "MS-ARCHIVE-BOMB",
                                f"member {name!r} declares {size} bytes",
                                location=Location(name),
                            )
                        )
                        continue
                    ctx.budget.add_decompressed(size, limits)
                    safe.append(name)
                for name in safe:
                    findings.extend(self._one(archive, name, ctx))
        except (
            py7zr.exceptions.Bad7zFile,
            py7zr.exceptions.ArchiveError,
            OSError,
            EOFError,
            ValueError,
            KeyError,
        ) as exc:
            findings.append(make_finding("MS-ARCHIVE-MALFORMED", f"7z archive is damaged: {exc}"))
        except py7zr.exceptions.PasswordRequired:
            findings.append(make_finding("MS-ARCHIVE-ENCRYPTED", "7z archive is encrypted"))
        return ScanOutcome("7z", tuple(findings))

    @staticmethod
    def _one(archive: object, name: str, ctx: ScanContext) -> list[Finding]:
        with tempfile.TemporaryDirectory(prefix="modelseal-7z-") as tmp:
            archive.reset()  # type: ignore[attr-defined]
            archive.extract(path=tmp, targets=[name])  # type: ignore[attr-defined]
            path = Path(tmp, name)
            if not path.is_file() or path.is_symlink():
                return []
            with open(path, "rb") as fh:
                item = ScanInput(ByteSource(fh), name, path.stat().st_size, fileobj=fh)
                return list(ctx.nested(item).findings)
