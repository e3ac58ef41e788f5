"""Writing a connection's bytes with ``send(2)`` while its transport holds nothing (compiled)."""

from collections.abc import Iterable
from typing import Any

from .._core.fanout import Sink

__all__ = ["SocketWriter", "socket_fd", "write_counts"]

def socket_fd(transport: Any) -> int:
    """The socket a transport writes to, or -1 when it must not be written to directly."""

def write_counts() -> tuple[int, int]:
    """Writes since the process started: ``(sent directly, handed to a transport)``."""

class SocketWriter(Sink):
    """The one way a connection writes: straight to the socket while the transport's buffer is empty."""

    def __init__(self, transport: Any, head: bytes = b"", direct: bool = True) -> None: ...
    def write(self, data: bytes) -> None:
        """Write ``data`` (after the head, if it still waits)."""
    def writelines(self, parts: Iterable[bytes]) -> None:
        """Write several byte strings as one."""
    def write_head(self) -> None:
        """Write the head alone if nothing took it along yet."""
    @property
    def head_pending(self) -> bool:
        """True while the head waits for the first write."""
    @property
    def direct(self) -> bool:
        """True while writes may go to the socket directly."""
    def detach(self) -> None:
        """Never touch the socket again."""
