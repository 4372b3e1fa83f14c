#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""A hostile vhost-user back end for libvblk's time-bound tests.

fake_backend.py SOCKET MODE listens on SOCKET and, for every connection,
misbehaves after reading the front end's first request:
  silent   accepts and reads, never answers
  half     sends the first 6 bytes of a 12-byte reply header, then nothing
  trickle  sends a complete GET_FEATURES reply one byte every 0.5 s
           (20 bytes: 10 s, longer than any deadline the tests use)
  wrong    answers with a reply to another request (protocol violation)
  hangup   closes the connection without answering
  noaccept listens with a backlog of one and never accepts: the first
           connection waits in the backlog, the next ones find it full
It runs until killed; the socket appearing means it is ready.
"""
import os
import socket
import struct
import sys
import threading
import time

VHOST_USER_VERSION = 0x1
VHOST_USER_REPLY = 0x4
GET_FEATURES = 1
GET_PROTOCOL_FEATURES = 15


def serve(conn, mode):
    try:
        conn.recv(4096)  # the first request, whatever it is
        if mode == "silent":
            while conn.recv(4096):
                pass
        elif mode == "half":
            conn.sendall(struct.pack("<III", GET_FEATURES, VHOST_USER_VERSION | VHOST_USER_REPLY, 8)[:6])
            while conn.recv(4096):
                pass
        elif mode == "trickle":
            reply = struct.pack("<IIIQ", GET_FEATURES, VHOST_USER_VERSION | VHOST_USER_REPLY, 8, 1 << 32)
            for b in reply:
                conn.sendall(bytes([b]))
                time.sleep(0.5)
            while conn.recv(4096):
                pass
        elif mode == "wrong":
            conn.sendall(struct.pack("<IIIQ", GET_PROTOCOL_FEATURES, VHOST_USER_VERSION | VHOST_USER_REPLY, 8, 0))
            while conn.recv(4096):
                pass
        # hangup: fall through and close
    except OSError:
        pass
    finally:
        conn.close()


def main():
    path, mode = sys.argv[1], sys.argv[2]
    if mode not in ("silent", "half", "trickle", "wrong", "hangup", "noaccept"):
        sys.exit("unknown mode " + mode)
    srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    tmp = path + ".tmp"
    srv.bind(tmp)
    srv.listen(0 if mode == "noaccept" else 16)
    os.rename(tmp, path)  # ready only once listening
    while mode == "noaccept":
        time.sleep(3600)
    while True:
        conn, _ = srv.accept()
        threading.Thread(target=serve, args=(conn, mode), daemon=True).start()


main()
