# A notebook cell that tries to reach outside its sandbox and reports what it could do.
# tests/test_adversarial.py fills in CONFIG (paths to read, list and write, a port, Unix
# sockets, a System V IPC key) and reads the PROBE{...} line it prints.
import ctypes as _ctypes, json as _json, os as _os, sqlite3 as _sqlite3, socket as _socket
_CONFIG = _json.loads(r'''__CONFIG__''')
def _try(f):
    try:
        r = f()
        return "OK:" + (r if type(r) is str else repr(r))[:200]
    except BaseException as e:
        return "ERR:" + type(e).__name__
def _read(p):
    with open(p, "rb") as fh:
        return fh.read(200).decode("latin-1")
def _write(p):
    with open(p, "a") as fh:
        fh.write("pwned")
    return "written"
def _plant(db):
    con = _sqlite3.connect(db)
    try:
        con.execute("CREATE TABLE IF NOT EXISTS planted (score REAL)")
        con.execute("UPDATE grade SET manual_score = 100")
        con.commit()
    finally:
        con.close()
    return "planted"
def _unix(p):
    s = _socket.socket(_socket.AF_UNIX)
    s.settimeout(3)
    try:
        s.connect(p)
    finally:
        s.close()
    return "connected"
_R = {"read": {}, "list": {}, "write": {}}
for _p in _CONFIG["reads"]:
    _R["read"][_p] = _try(lambda: _read(_p))
for _p in _CONFIG["lists"]:
    _R["list"][_p] = _try(lambda: sorted(_os.listdir(_p)))
for _p in _CONFIG["writes"]:
    _R["write"][_p] = _try(lambda: _write(_p))
_R["import"] = [_try(lambda: __import__(m).__file__) for m in ("reference_solution", "autograder.checks")]
_R["plant"] = _try(lambda: _plant(_CONFIG["gradebook"]))
_R["connect"] = _try(lambda: _socket.create_connection(("127.0.0.1", _CONFIG["port"]), timeout=3).close())
_R["unix"] = {p: _try(lambda: _unix(p)) for p in _CONFIG["unix"]}
_libc = _ctypes.CDLL("libc.so.6", use_errno=True)
_K = _ctypes.c_int(_CONFIG["ipc_key"])
_R["ipc_found"] = [_libc.shmget(_K, _ctypes.c_size_t(0), 0), _libc.semget(_K, 0, 0), _libc.msgget(_K, 0)]
_R["ipc_made"] = [_libc.shmget(_K, _ctypes.c_size_t(1 << 20), 0o1666), _libc.semget(_K, 1, 0o1666),
                  _libc.msgget(_K, 0o1666)]
_R["env"] = dict(_os.environ)
_R["proc_environ"] = _try(lambda: _read("/proc/self/environ"))
_R["pids"] = sorted(int(p) for p in _os.listdir("/proc") if p.isdigit())
_R["status"] = {l.split(":")[0]: l.split(":", 1)[1].strip() for l in open("/proc/self/status") if ":" in l}
_R["cwd"] = _os.getcwd()
print("PROBE" + _json.dumps(_R))
