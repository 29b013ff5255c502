REVISION: int

def members(
    source: int | memoryview, directory: bytes, count: int, directory_at: int, /
) -> list[tuple[str, int, int, bytes]] | None: ...
