"""The fast path of the HTTP/1.x request head parser: one C pass over a well-formed head."""

def parse_head(
    head: bytes,
) -> tuple[str, str, str, list[tuple[str, str]], dict[str, list[str]]] | None: ...
