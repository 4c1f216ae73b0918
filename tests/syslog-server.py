#!/usr/bin/env python3
"""A minimal syslog daemon for tests: binds a datagram socket at PATH and appends every
message received to LOGFILE, one per line. Removes a stale socket first, as syslogd does."""
import os
import socket
import sys

path, logfile = sys.argv[1], sys.argv[2]
try:
    os.unlink(path)
except FileNotFoundError:
    pass
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(path)
os.chmod(path, 0o666)
with open(logfile, "a", buffering=1) as out:
    out.write("# listening\n")
    while True:
        data = s.recv(65536)
        out.write(data.decode("utf-8", "replace") + "\n")
