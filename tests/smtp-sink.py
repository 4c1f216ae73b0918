#!/usr/bin/env python3
"""A tiny SMTP sink for the tests: accepts mail on ADDR:PORT, one connection at a time,
and appends each conversation to OUT (the client's commands, then the message as sent
after DATA, then a line `=== end`). Stops by itself after SECONDS.
Usage: smtp-sink.py ADDR PORT OUT SECONDS"""
import socket
import sys
import time


def main():
    addr, port, out, secs = sys.argv[1], int(sys.argv[2]), sys.argv[3], float(sys.argv[4])
    end = time.monotonic() + secs
    srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind((addr, port))
    srv.listen(8)
    print("listening", flush=True)
    while time.monotonic() < end:
        srv.settimeout(max(0.1, end - time.monotonic()))
        try:
            conn, _ = srv.accept()
        except socket.timeout:
            break
        conn.settimeout(5)
        f = conn.makefile("rwb")
        log = []
        try:
            f.write(b"220 sink ESMTP\r\n")
            f.flush()
            while True:
                line = f.readline()
                if not line:
                    break
                log.append(line.decode(errors="replace"))
                cmd = line.strip().upper()
                if cmd == b"DATA":
                    f.write(b"354 go ahead\r\n")
                    f.flush()
                    while True:
                        data = f.readline()
                        if not data:
                            break
                        log.append(data.decode(errors="replace"))
                        if data == b".\r\n":
                            break
                    f.write(b"250 queued\r\n")
                elif cmd == b"QUIT":
                    f.write(b"221 bye\r\n")
                    f.flush()
                    break
                else:
                    f.write(b"250 ok\r\n")
                f.flush()
        except OSError:
            pass
        finally:
            conn.close()
        with open(out, "a") as o:
            o.write("".join(log).replace("\r\n", "\n"))
            o.write("=== end\n")


if __name__ == "__main__":
    main()
