"""The batch progress bar on a real (pseudo-)terminal: it fits the terminal's width, and messages printed while
it runs get lines of their own."""

import fcntl
import os
import select
import struct
import sys
import termios

from semhm_models.progress import progress, say


def _on_terminal(monkeypatch, columns: int, run) -> str:
    """What ``run()`` writes to stderr when stderr is a pseudo-terminal ``columns`` wide."""
    master, slave = os.openpty()
    try:
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, columns, 0, 0))
        with open(slave, "w", closefd=False) as tty:
            monkeypatch.setattr(sys, "stderr", tty)
            run()
        out = b""  # the pty passes output on asynchronously: read until it has been quiet for a moment
        while select.select([master], [], [], 0.5)[0]:
            out += os.read(master, 1 << 20)
        return out.decode()
    finally:
        os.close(master)
        os.close(slave)


def test_the_bar_fits_a_narrow_terminal_and_messages_get_their_own_lines(monkeypatch):
    def run():
        for i in progress(range(5), "matte", name=lambda i: f"/photos/a/long/folder/name/photo_{i}.jpg"):
            if i == 2:
                say("error: photo_2.jpg: broken")

    out = _on_terminal(monkeypatch, 50, run)
    drawn = [part for line in out.split("\n") for part in line.split("\r")]
    assert max(len(part) for part in drawn) < 50, out  # one line each, however long the names
    assert "\rerror: photo_2.jpg: broken\r\n" in out  # the bar's line was cleared first
    assert "| 4/5 eta " in out and ", /photos/a" in out
    assert out.endswith("\r")  # the bar is gone at the end: the summary that follows starts a clean line


def test_off_a_terminal_there_is_no_bar(capsys):
    assert list(progress(range(3), "score")) == [0, 1, 2]
    err = capsys.readouterr().err
    assert "\r" not in err and err.startswith("score: 3 done in ")
