#!/usr/bin/env python3
"""Start-to-ready: launches a command and polls a URL every millisecond until it answers 200.

Prints the milliseconds from exec to the first 200 (for FastProxy's /ready that includes the
first token fetched from the local IMDS), then stops the process.
usage: startup.py URL command [args...]
"""
import socket
import subprocess
import sys
import time
from urllib.parse import urlsplit

url = urlsplit(sys.argv[1])
request = f"GET {url.path or '/'} HTTP/1.1\r\nHost: {url.hostname}\r\nConnection: close\r\n\r\n".encode()
start = time.perf_counter()
proc = subprocess.Popen(sys.argv[2:], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
try:
    while time.perf_counter() - start < 10:
        try:
            with socket.create_connection((url.hostname, url.port), timeout=1) as s:
                s.sendall(request)
                if s.recv(64).startswith(b"HTTP/1.1 200"):
                    print(f"{(time.perf_counter() - start) * 1000:.1f}")
                    break
        except OSError:
            pass
        time.sleep(0.001)
    else:
        print("timeout")
finally:
    proc.terminate()
    proc.wait()
