"""Reading a password from a file (``ldm migrate-domain -p FILE``) safely.

A password file that other users can read is no secret: like OpenSSH with a private key,
it is refused outright, with a line that says how to fix it.
"""

from __future__ import annotations

import os
import stat


class PasswordFileError(Exception):
    """One line an operator can act on; ``code`` for scripts and tests."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def read_password_file(path: str) -> str:
    """The first line of ``path`` (without its newline), if only its owner may read it."""
    if "\0" in path:
        raise PasswordFileError("bad-password-file",
                                f"Unable to read password file {path!r}: a file name has no NUL character")
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)   # a FIFO must not make us wait
    except OSError as e:
        raise PasswordFileError("bad-password-file",
                                f"Unable to read password file {path}: {e.strerror}") from None
    st = os.fstat(fd)
    if not stat.S_ISREG(st.st_mode):
        os.close(fd)
        raise PasswordFileError("bad-password-file", f"Password file {path} is not a regular file")
    with os.fdopen(fd, "rb") as f:
        if st.st_mode & (stat.S_IRGRP | stat.S_IROTH | stat.S_IWGRP | stat.S_IWOTH):
            raise PasswordFileError(
                "password-file-mode",
                f"Password file {path} is accessible by others (mode {stat.S_IMODE(st.st_mode):04o}); "
                f"run 'chmod 600 {path}'")
        line = f.readline(65536)
    try:
        return line.decode("utf-8").rstrip("\r\n")
    except UnicodeDecodeError:
        raise PasswordFileError("bad-password-file", f"Password file {path} is not UTF-8 text") from None
