"""A stand-in for semhm's worker that misbehaves on purpose (tests/test_gimp.py): started by the plug-in
as ``PYTHON -m semhm_models.gimp.worker --serve STATE ...`` through a wrapper script, it speaks the real
protocol, then, as FAKE_WORKER says: "slow" never answers the request, "short" returns a truncated alpha."""

import json
import os
import sys
import time
from multiprocessing.connection import Listener

state = sys.argv[sys.argv.index("--serve") + 1]
mode = os.environ["FAKE_WORKER"]
with Listener(("127.0.0.1", 0)) as listener:
    with open(state, "w") as f:
        json.dump({"address": list(listener.address), "token": "t", "pid": os.getpid()}, f)
    conn = listener.accept()
    req = json.loads(conn.recv_bytes())
    conn.send_bytes(b'{"ok": true}')
    conn.recv_bytes()
    if mode == "slow":
        time.sleep(30)
    w, h = req["width"], req["height"]
    conn.send_bytes(b'{"ok": true}')
    conn.send_bytes(bytes(w * h * 4 - 4))
    conn.send_bytes(bytes(w * h * 16))
