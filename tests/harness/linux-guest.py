#!/usr/bin/env python3
"""Clients the Linux-guest tests and bench/net-gap.sh use (run by tests/harness/linux-guest.sh).

  echo IP PORT               one datagram to the guest's UDP echo: exit 0 when it comes back
  stream IP PORT MS          a datagram (numbered) every MS ms until SIGTERM or SIGINT, then
                             waits 0.5 s for late echoes and prints
                             "sent S received R lost L longest-gap-ms G"; it prints
                             "flowing" once the first echo is back. The longest gap is the
                             longest time between two echoes in a row as they arrived.
  qmp PATH CMD...            QMP on PATH: capabilities, then each CMD (a JSON object); prints
                             "peer PID" (SO_PEERCRED: the QEMU that serves PATH), then each
                             reply on a line; exit 1 if any reply is an error
  migrate SRC DST URI live|stopped
                             migrate the QEMU on QMP SRC to the one on QMP DST (started
                             with -incoming URI), live or stopped first (then `cont` on
                             DST); waits until DST runs, quits SRC; prints "pause-ms P"
                             (QEMU's downtime, or stop to cont)
  qga PATH                   {"execute": "guest-ping"} on a guest agent's socket; prints the
                             reply line
  console PATH MS             a console session on the chardev socket PATH (the guest runs
                             serial-echo): types "line K" every MS ms until SIGTERM, then
                             waits up to 5 s for the last answer and prints "ticks T
                             missing M lines L answered A missing X twice D eof E"; exit 0
                             only when nothing is missing or twice and the session never
                             ended. It prints "flowing" once the first tick is in.
  offloads IFNAME            the interface's offloads as the kernel has them (what a tap's
                             QEMU set with TUNSETOFFLOAD): "tx-csum=B sg=B tso=B ufo=B gso=B",
                             B 0 or 1, or - where the kernel does not say
Every socket wait is bounded (timeouts below); a failure exits non-zero with a message.
"""
import array
import fcntl
import json
import signal
import socket
import struct
import sys
import threading
import time


def stop_flag():
    """A list SIGTERM or SIGINT makes non-empty. The handler takes no lock: an Event's
    set() in a handler deadlocks when the signal lands inside the main thread's wait(),
    which holds the Event's lock."""
    stop = []
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.append(1))
    return stop


def udp_echo(ip, port):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.settimeout(1)
    s.sendto(b"cpr-linux-guest-echo", (ip, port))
    try:
        data, peer = s.recvfrom(100)
    except socket.timeout:
        return 1
    return 0 if data == b"cpr-linux-guest-echo" and peer == (ip, port) else 2


def udp_stream(ip, port, ms):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.connect((ip, port))
    s.settimeout(0.1)
    seen = set()
    gap = [0.0, None]  # longest gap, time of the last echo
    done = threading.Event()

    def receive():
        while not done.is_set():
            try:
                data = s.recv(64)
            except (socket.timeout, ConnectionRefusedError):
                continue
            t = time.monotonic()
            if len(data) != 8:
                continue
            seq = struct.unpack("!Q", data)[0]
            if not seen:
                print("flowing", flush=True)
            seen.add(seq)
            if gap[1] is not None:
                gap[0] = max(gap[0], t - gap[1])
            gap[1] = t

    stop = stop_flag()
    rx = threading.Thread(target=receive)
    rx.start()
    sent = 0
    start = time.monotonic()
    while not stop:
        try:
            s.send(struct.pack("!Q", sent))
        except (ConnectionRefusedError, OSError):
            pass  # an ICMP error of an earlier datagram: this one counts as sent and lost
        sent += 1
        delay = start + sent * ms / 1000.0 - time.monotonic()
        if delay > 0:
            time.sleep(delay)
    time.sleep(0.5)
    done.set()
    rx.join()
    received = len(seen)
    print("sent %d received %d lost %d longest-gap-ms %.1f"
          % (sent, received, sent - received, gap[0] * 1000), flush=True)
    return 0


def lines(s, timeout):
    """The JSON lines s receives, each within timeout."""
    s.settimeout(timeout)
    buf = b""
    while True:
        while b"\n" not in buf:
            chunk = s.recv(65536)
            if not chunk:
                return
            buf += chunk
        line, buf = buf.split(b"\n", 1)
        yield json.loads(line)


class Qmp:
    """A QMP session on a UNIX socket; pid is the peer's (SO_PEERCRED)."""

    def __init__(self, path):
        self.path = path
        self.s = socket.socket(socket.AF_UNIX)
        self.s.settimeout(10)
        self.s.connect(path)
        self.pid = struct.unpack("3i", self.s.getsockopt(socket.SOL_SOCKET,
                                                         socket.SO_PEERCRED, 12))[0]
        self.replies = lines(self.s, 60)
        next(self.replies)  # greeting
        self.send('{"execute": "qmp_capabilities"}')

    def send(self, text):
        self.s.sendall(text.encode() + b"\n")
        r = next((r for r in self.replies if "event" not in r), None)
        if r is None:
            raise OSError("%s closed the connection" % self.path)
        return r

    def cmd(self, name, args=None):
        """The return value of command name; OSError when it fails."""
        r = self.send(json.dumps({"execute": name, "arguments": args or {}}))
        if "error" in r:
            raise OSError("%s: %s: %s" % (self.path, name, r["error"].get("desc")))
        return r["return"]


def qmp(path, cmds):
    q = Qmp(path)
    print("peer %d" % q.pid, flush=True)
    rc = 0
    for cmd in cmds:
        r = q.send(cmd)
        rc = rc or "error" in r
        print(json.dumps(r), flush=True)
    return rc


def migrate(src, dst, uri, mode):
    """Migrate the QEMU on QMP src to the one waiting on dst (-incoming uri), live or
    stopped first; then the destination runs and the source quits."""
    a, b = Qmp(src), Qmp(dst)
    # a move on one host: no 32 MiB/s cap (QEMU's default); downtime-limit stays 300 ms
    a.cmd("migrate-set-parameters", {"max-bandwidth": 1 << 40})
    stop = time.monotonic()
    if mode == "stopped":
        a.cmd("stop")
    a.cmd("migrate", {"uri": uri})
    end = time.monotonic() + 300
    while True:
        st = a.cmd("query-migrate")
        if st.get("status") == "completed":
            break
        if st.get("status") in ("failed", "cancelled") or time.monotonic() > end:
            raise OSError("migration %s: %s" % (st.get("status"), st.get("error-desc", "")))
        time.sleep(0.002)
    if mode == "stopped":
        # A destination of a stopped source stays paused. It may still be loading when the
        # source says completed, and a cont then would be overridden by the paused state
        # it loads: wait until it is done.
        end = time.monotonic() + 30
        while b.cmd("query-status").get("status") == "inmigrate":
            if time.monotonic() > end:
                raise OSError("%s: the destination does not finish loading" % dst)
            time.sleep(0.002)
        b.cmd("cont")
        pause = (time.monotonic() - stop) * 1000
    else:
        pause = st.get("downtime", -1)
    end = time.monotonic() + 30
    while not b.cmd("query-status").get("running"):
        if time.monotonic() > end:
            raise OSError("%s: the destination does not run" % dst)
        time.sleep(0.01)
    try:
        a.cmd("quit")
    except OSError:
        pass  # the source may close before it answers
    print("pause-ms %.1f" % pause, flush=True)
    return 0


def qga(path):
    s = socket.socket(socket.AF_UNIX)
    s.settimeout(60)
    s.connect(path)
    s.sendall(b'{"execute": "guest-ping"}\n')
    for r in lines(s, 60):
        print(json.dumps(r))
        return 0
    return 1


def console(path, ms):
    s = socket.socket(socket.AF_UNIX)
    s.settimeout(30)
    s.connect(path)
    stop = stop_flag()
    ticks, answers, state = [], [], {"eof": 0, "flowing": False}

    def receive():
        buf = b""
        while True:
            try:
                chunk = s.recv(4096)
            except socket.timeout:
                continue
            except OSError:
                break
            if not chunk:
                state["eof"] = int(not state.get("closing"))
                break
            buf += chunk
            *done, buf = buf.split(b"\n")
            for line in done:
                line = line.decode(errors="replace").strip("\r")
                if line.startswith("tick "):
                    ticks.append(int(line[5:]))
                    if not state["flowing"]:
                        state["flowing"] = True
                        print("flowing", flush=True)
                elif line.startswith("echo line "):
                    answers.append(int(line[10:]))

    t = threading.Thread(target=receive, daemon=True)
    t.start()
    sent = 0
    while not stop:
        s.sendall(b"line %d\n" % sent)
        sent += 1
        time.sleep(ms / 1000.0)
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and (not answers or answers[-1] < sent - 1):
        time.sleep(0.05)
    state["closing"] = True
    s.shutdown(socket.SHUT_RDWR)
    t.join(2)
    missing_ticks = (ticks[-1] - ticks[0] + 1 - len(set(ticks))) if ticks else 0
    missing = sent - len(set(answers))
    twice = len(answers) - len(set(answers))
    in_order = answers == sorted(answers)
    print("ticks %d missing %d lines %d answered %d missing %d twice %d eof %d%s"
          % (len(ticks), missing_ticks, sent, len(answers), missing, twice, state["eof"],
             "" if in_order else " out-of-order"))
    ok = ticks and not missing_ticks and not missing and not twice and in_order
    return 0 if ok and not state["eof"] else 1


def offloads(ifname):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    out = []
    # SIOCETHTOOL with the ETHTOOL_G* commands of struct ethtool_value {cmd, data}
    for name, cmd in (("tx-csum", 0x16), ("sg", 0x18), ("tso", 0x1e), ("ufo", 0x21),
                      ("gso", 0x23)):
        value = array.array("I", [cmd, 0])
        ifr = struct.pack("16sP16x", ifname.encode(), value.buffer_info()[0])
        try:
            fcntl.ioctl(s.fileno(), 0x8946, ifr)
            out.append("%s=%d" % (name, 1 if value[1] else 0))
        except OSError as e:
            if e.errno != 95:  # EOPNOTSUPP: a flag this kernel no longer reports (ufo)
                raise
            out.append("%s=-" % name)
    print(" ".join(out))
    return 0


def main(argv):
    try:
        if len(argv) == 4 and argv[1] == "echo":
            return udp_echo(argv[2], int(argv[3]))
        if len(argv) == 5 and argv[1] == "stream":
            return udp_stream(argv[2], int(argv[3]), float(argv[4]))
        if len(argv) >= 3 and argv[1] == "qmp":
            return qmp(argv[2], argv[3:])
        if len(argv) == 6 and argv[1] == "migrate" and argv[5] in ("live", "stopped"):
            return migrate(argv[2], argv[3], argv[4], argv[5])
        if len(argv) == 3 and argv[1] == "qga":
            return qga(argv[2])
        if len(argv) == 4 and argv[1] == "console":
            return console(argv[2], float(argv[3]))
        if len(argv) == 3 and argv[1] == "offloads":
            return offloads(argv[2])
    except (OSError, ValueError, StopIteration) as e:
        print("%s: %s: %s" % (argv[0], argv[1], e), file=sys.stderr)
        return 1
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
