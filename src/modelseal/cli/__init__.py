"""The command line: a thin shell that parses, calls :mod:`modelseal.api`, and renders.

Exit codes are a contract shared by every command (scripts and CI pipelines depend on them); each command
module names them for what they mean to it (``gate``: 1 block, 3 review).
"""

EXIT_OK = 0
EXIT_FINDINGS = 1
"""Findings at or above the threshold, differences, a block: the command's answer is no."""
EXIT_ERROR = 2
"""The command could not do its work (never a verdict)."""
EXIT_NOTHING = 3
"""Nothing to scan; for ``gate``, review needed."""
EXIT_USAGE = 4
