"""Eight threads opening one fresh SQLite store at once, 150 times: how many rounds fail.

    .venv/bin/python benchmarks/store_open_race.py       (run beside a CPU load to provoke the race)

Before api/store.py retried `PRAGMA journal_mode=WAL`, a round failed now and then with "database is
locked" under load (SQLite answers SQLITE_BUSY at once when two connections switch a fresh file to WAL).
"""
import threading, tempfile, traceback, sys, os
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from api.store import Store
fails = 0
for it in range(150):
    d = tempfile.mkdtemp()
    url = f"sqlite:///{d}/s.db"
    barrier = threading.Barrier(8)
    errs = []
    def go():
        barrier.wait()
        try:
            Store(url)
        except Exception:
            errs.append(traceback.format_exc())
    ts = [threading.Thread(target=go) for _ in range(8)]
    [t.start() for t in ts]; [t.join() for t in ts]
    if errs:
        fails += 1
        if fails == 1:
            print(errs[0][-2500:])
print("fails", fails)
