#!/usr/bin/env python3
"""Stand-ins for the parts of Proxmox VE that watch a QEMU (tests/integration/proxmox-launch.test;
doc/proxmox.md says what each one reproduces, from qemu-server's code).

  qmeventd SOCK RUN          the event daemon: listens on SOCK (QEMU's "qmp-event" chardev
                             connects to it), as qemu-server's qmeventd does: SO_PEERCRED pid,
                             root only, on the greeting the VMID from -pidfile in
                             /proc/PID/cmdline, qmp_capabilities, a VMID -> client table; on
                             SHUTDOWN query-status, and quit when the VM is not active; on EOF
                             what `qm cleanup VMID GRACEFUL GUEST` would find: whether
                             RUN/qemu-server/VMID.pid names a running QEMU (then cleanup waits
                             and aborts) or not (then it unplugs the taps and tears down).
                             One line per happening on stdout; at SIGTERM the table.
  qmp-loop PATH              a QMP client that connects per command, as PVE::QMPClient does
                             (non-blocking connect retried on EAGAIN every 100 ms, greeting,
                             qmp_capabilities, query-status with an id, close), one command
                             after another until SIGTERM; then prints "commands N ok K
                             errors E over-5s S longest-ms M served-by PID(STATUS):n ..." (n
                             answers with query-status STATUS from a peer PID) and each
                             error. The peer (SO_PEERCRED) of a listening socket that
                             moved between QEMUs is the last process that called listen()
                             on it, not necessarily the one serving. A command still unanswered after 30 s is a hang: it
                             prints "HANG" and exits 1 at once.
  qmp PATH CMD               one command the same way; prints "peer PID" and the reply
  running RUN VMID           qemu-server's liveness check (vm_running_locally): the pid in
                             RUN/qemu-server/VMID.pid if /proc/PID/cmdline is a QEMU's
                             (argv[0] ends in kvm or is qemu-*) with that very -pidfile;
                             exit 1 when none
  watch-running RUN VMID     that check every 10 ms until SIGTERM; prints "watching: PID"
                             after the first, at the end "samples N
                             not-running M pids P1 P2 ..." (the pids seen, in order)
  guest LOG                  the test guest's report lines (guest/README.md) in LOG: prints
                             "boots B reports G seq-breaks S errors E error-lines L"; exit 1
                             unless exactly one boot, reports, no break and no error
"""
import json
import os
import re
import selectors
import signal
import socket
import struct
import sys
import time

PVE_TIMEOUT = 5.0   # PVE::QMPClient's default for a command (and for its connect retries)
HANG = 30.0


def peer(s):
    pid, uid, _gid = struct.unpack("3i", s.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, 12))
    return pid, uid


def cmdline(pid):
    try:
        with open("/proc/%d/cmdline" % pid, "rb") as f:
            return f.read().decode(errors="replace").split("\0")
    except OSError:
        return []


def pidfile_path(run, vmid):
    return os.path.join(run, "qemu-server", "%s.pid" % vmid)


def liveness(run, vmid):
    """qemu-server's Helpers.pm instance_running_locally: (the pid in the pidfile, None) if its
    cmdline is a QEMU's (parse_cmdline) with this very -pidfile and it runs, else (None, why)."""
    path = pidfile_path(run, vmid)
    try:
        with open(path) as f:
            line = f.readline()
    except OSError as e:
        return None, "pidfile: %s" % e.strerror
    m = re.fullmatch(r"(\d+)\n?", line)
    if not m:
        return None, "pidfile holds %r" % line
    pid = int(m.group(1))
    args = cmdline(pid)
    if not args or not (args[0].endswith("kvm") or re.search(r"(?:^|/)qemu-[^/]+$", args[0])):
        return None, "pid %d: not a QEMU (argv[0] %r)" % (pid, args[0] if args else None)
    opts, pending = {}, None
    for a in args[1:]:
        if not a:
            continue
        if re.match(r"--?", a):
            if pending:
                opts[pending] = None
            pending = re.sub(r"^--?", "", a)
        elif pending:
            opts[pending] = a
            pending = None
    if opts.get("pidfile") != path:
        return None, "pid %d: -pidfile %r" % (pid, opts.get("pidfile"))
    try:
        with open("/proc/%d/stat" % pid) as f:
            state = f.read().rsplit(")", 1)[1].split()[0]
    except OSError:
        return None, "pid %d: gone" % pid
    return (pid, None) if state not in ("Z", "X") else (None, "pid %d: exited" % pid)


def running(run, vmid):
    return liveness(run, vmid)[0]


def vmid_of(pid):
    """qmeventd's get_vmid_from_pid: the number in -pidfile .../VMID.pid."""
    args = cmdline(pid)
    for i, a in enumerate(args[:-1]):
        if a == "-pidfile":
            m = re.fullmatch(r"(\d+)\.pid", os.path.basename(args[i + 1]))
            return m.group(1) if m and "/" in args[i + 1] else None
    return None


def say(text):
    print("%.3f %s" % (time.time(), text), flush=True)


class Client:
    def __init__(self, s):
        self.s, self.buf = s, b""
        self.pid, self.uid = peer(s)
        self.vmid, self.graceful, self.guest, self.expect = None, 0, 0, None


def qmeventd(sock_path, run):
    table = {}  # vmid -> Client, as qmeventd's vm_clients
    sel = selectors.DefaultSelector()
    lsock = socket.socket(socket.AF_UNIX)
    try:
        os.unlink(sock_path)
    except FileNotFoundError:
        pass
    lsock.bind(sock_path)
    os.chmod(sock_path, 0o600)
    lsock.listen(10)
    sel.register(lsock, selectors.EVENT_READ)
    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
    say("listening %s" % sock_path)

    def send(c, obj):
        try:
            c.s.sendall(json.dumps(obj).encode() + b"\n")
        except OSError as e:
            say("send pid=%d failed: %s" % (c.pid, e))

    def eof(c):
        sel.unregister(c.s)
        c.s.close()
        if c.vmid is None:
            say("eof pid=%d (no QEMU client)" % c.pid)
            return
        say("eof pid=%d vmid=%s graceful=%d guest=%d" % (c.pid, c.vmid, c.graceful, c.guest))
        # qmeventd removes the table entry by VMID, whichever client it holds
        held = table.pop(c.vmid, None)
        if held is not None:
            say("unregister vmid=%s pid=%d (on the eof of pid=%d)" % (c.vmid, held.pid, c.pid))
        # then `qm cleanup VMID GRACEFUL GUEST`, which first asks vm_running_locally
        pid = running(run, c.vmid)
        if pid:
            say("cleanup vmid=%s running=%d: qm cleanup waits for it, then aborts" % (c.vmid, pid))
        else:
            say("cleanup vmid=%s running=none: qm cleanup would %s" %
                (c.vmid, "unplug the taps and tear the VM down" if not c.graceful
                 else "tear the VM down (vm_stop_cleanup)"))

    def message(c, obj):
        if "QMP" in obj:
            c.vmid = vmid_of(c.pid)
            if c.vmid is None:
                say("greeting pid=%d: no VMID in its -pidfile: dropped" % c.pid)
                return False
            say("connect pid=%d vmid=%s" % (c.pid, c.vmid))
            old = table.get(c.vmid)
            table[c.vmid] = c
            say("register vmid=%s pid=%d%s" % (c.vmid, c.pid,
                                               " replacing pid=%d" % old.pid if old else ""))
            c.expect = "handshake"
            send(c, {"execute": "qmp_capabilities"})
        elif "event" in obj:
            say("event pid=%d %s %s" % (c.pid, obj["event"], json.dumps(obj.get("data", {}))))
            if obj["event"] == "SHUTDOWN" and c.expect != "terminating":
                c.graceful = 1
                c.guest = int(bool(obj.get("data", {}).get("guest")))
                c.expect = "status"
                send(c, {"execute": "query-status"})
        elif "return" in obj or "error" in obj:
            if c.expect == "status":
                st = (obj.get("return") or {}).get("status")
                say("status pid=%d %s" % (c.pid, st))
                c.expect = None
                if st not in ("running", "paused", "suspended", "prelaunch"):
                    say("terminate pid=%d: quit" % c.pid)
                    c.expect = "terminating"
                    send(c, {"execute": "quit"})
            elif c.expect == "handshake":
                c.expect = None
        return True

    while not stop:
        try:
            events = sel.select(0.2)
        except InterruptedError:
            continue
        for key, _ in events:
            if key.fileobj is lsock:
                s, _ = lsock.accept()
                c = Client(s)
                if c.uid != 0:
                    say("rejecting pid=%d uid=%d" % (c.pid, c.uid))
                    s.close()
                    continue
                sel.register(s, selectors.EVENT_READ, c)
                say("accept pid=%d" % c.pid)
                continue
            c = key.data
            try:
                data = c.s.recv(65536)
            except OSError:
                data = b""
            if not data:
                eof(c)
                continue
            c.buf += data
            while b"\n" in c.buf:
                line, c.buf = c.buf.split(b"\n", 1)
                try:
                    obj = json.loads(line)
                except ValueError:
                    continue
                if not message(c, obj):
                    sel.unregister(c.s)
                    c.s.close()
                    break
    for vmid, c in sorted(table.items()):
        say("table vmid=%s pid=%d" % (vmid, c.pid))
    return 0


class Failed(Exception):
    pass


def pve_command(path, execute, deadline):
    """One command as PVE::QMPClient sends it: (reply, peer pid, wait in s). Raises Failed
    with what PVE would report; a wait past deadline raises TimeoutError (a hang)."""
    start = time.monotonic()
    s = socket.socket(socket.AF_UNIX)
    s.setblocking(False)
    try:
        while True:
            try:
                s.connect(path)
                break
            except (BlockingIOError, InterruptedError):
                # a full backlog: PVE retries every 100 ms within its timeout
                if time.monotonic() - start >= PVE_TIMEOUT:
                    raise Failed("unable to connect - timeout")
                time.sleep(0.1)
            except OSError as e:
                raise Failed("unable to connect - %s" % os.strerror(e.errno))
        pid, _ = peer(s)
        buf = b""
        # one command at a time, each with an id, as PVE::QMPClient's queue sends them
        queue = [{"execute": "qmp_capabilities", "arguments": {}, "id": "%d:0" % os.getpid()},
                 {"execute": execute, "arguments": {}, "id": "%d:1" % os.getpid()}]
        current = None
        while True:
            while b"\n" not in buf:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError()
                sel = selectors.DefaultSelector()
                sel.register(s, selectors.EVENT_READ)
                if not sel.select(min(left, 0.5)):
                    continue
                try:
                    chunk = s.recv(65536)
                except (BlockingIOError, InterruptedError):
                    continue
                except OSError as e:
                    raise Failed("client closed connection (%s)" % os.strerror(e.errno))
                if not chunk:
                    raise Failed("client closed connection")
                buf += chunk
            line, buf = buf.split(b"\n", 1)
            obj = json.loads(line)
            if ("QMP" in obj and current is None) or (current and obj.get("id") == current["id"]):
                if "error" in obj:
                    raise Failed("error %s" % obj["error"].get("desc"))
                if current is queue[-1]:
                    return obj["return"], pid, time.monotonic() - start
                current = queue[queue.index(current) + 1] if current else queue[0]
                s.setblocking(True)
                s.sendall(json.dumps(current).encode() + b"\n")
                s.setblocking(False)
    finally:
        s.close()


def qmp_loop(path):
    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
    n = ok = slow = 0
    longest = 0.0
    served, errors = {}, []
    while not stop:
        n += 1
        start = time.monotonic()
        try:
            ret, pid, waited = pve_command(path, "query-status", start + HANG)
            ok += 1
            key = "%d(%s)" % (pid, ret.get("status"))
            served[key] = served.get(key, 0) + 1
        except TimeoutError:
            print("HANG: command %d unanswered after %.0f s" % (n, HANG), flush=True)
            return 1
        except Failed as e:
            waited = time.monotonic() - start
            errors.append("command %d after %d ms: %s" % (n, waited * 1000, e))
        if n == 1:
            print("first command: %s" % ("ok" if ok else errors[-1]), flush=True)
        longest = max(longest, waited)
        slow += waited > PVE_TIMEOUT
        time.sleep(0.02)
    print("commands %d ok %d errors %d over-5s %d longest-ms %d served-by %s" %
          (n, ok, len(errors), slow, longest * 1000,
           " ".join("%s:%d" % kv for kv in served.items())), flush=True)
    for e in errors:
        print("error: " + e, flush=True)
    return 0


def qmp_once(path, execute):
    try:
        ret, pid, _ = pve_command(path, execute, time.monotonic() + HANG)
    except TimeoutError:
        print("no answer within %.0f s" % HANG, file=sys.stderr)
        return 1
    except Failed as e:
        print(str(e), file=sys.stderr)
        return 1
    print("peer %d" % pid)
    print(json.dumps(ret))
    return 0


def watch_running(run, vmid):
    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
    n = down = 0
    pids = []
    while not stop:
        pid, why = liveness(run, vmid)
        n += 1
        if n == 1:
            print("watching: %s" % pid, flush=True)
        if pid is None:
            down += 1
            print("not running: %s" % why, flush=True)
        elif not pids or pids[-1] != pid:
            pids.append(pid)
        time.sleep(0.01)
    print("samples %d not-running %d pids %s" % (n, down, " ".join(map(str, pids))), flush=True)
    return 0


def guest(log):
    boots = reports = breaks = errors = elines = 0
    seq = None
    with open(log, errors="replace") as f:
        for line in f:
            if line.startswith("B "):
                boots += 1
            elif line.startswith("E "):
                elines += 1
            elif line.startswith("G "):
                kv = dict(w.split("=", 1) for w in line.split()[1:] if "=" in w)
                s = int(kv["seq"])
                if seq is not None and s != seq + 1:
                    breaks += 1
                seq = s
                reports += 1
                errors = max(errors, int(kv["errors"]))
    print("boots %d reports %d seq-breaks %d errors %d error-lines %d" %
          (boots, reports, breaks, errors, elines))
    return 0 if boots == 1 and reports and not breaks and not errors and not elines else 1


def main(argv):
    try:
        if len(argv) == 4 and argv[1] == "qmeventd":
            return qmeventd(argv[2], argv[3])
        if len(argv) == 3 and argv[1] == "qmp-loop":
            return qmp_loop(argv[2])
        if len(argv) == 4 and argv[1] == "qmp":
            return qmp_once(argv[2], argv[3])
        if len(argv) == 4 and argv[1] == "running":
            pid = running(argv[2], argv[3])
            if pid:
                print(pid)
            return 0 if pid else 1
        if len(argv) == 4 and argv[1] == "watch-running":
            return watch_running(argv[2], argv[3])
        if len(argv) == 3 and argv[1] == "guest":
            return guest(argv[2])
    except (OSError, ValueError, KeyError) as e:
        print("%s: %s: %s" % (argv[0], argv[1], e), file=sys.stderr)
        return 1
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
