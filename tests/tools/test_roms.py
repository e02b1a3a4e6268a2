"""Tiny guest ROMs the command-line tests write: HLT everywhere, and their own code at the
reset vector (F000:FFF0, 16 bytes before the end of a 64 KiB BIOS ROM)."""
import sys

sys.dont_write_bytecode = True  # leave no __pycache__ in the source tree


def rom_with_reset_code(code: bytes, size=64 * 1024, body=b"", body_at=0) -> bytes:
    """A ROM whose reset vector (16 bytes before its end) holds `code`, with `body` at
    offset `body_at`."""
    rom = bytearray(b"\xF4" * size)  # HLT everywhere
    rom[body_at:body_at + len(body)] = body
    rom[size - 16:size - 16 + len(code)] = code
    return bytes(rom)
