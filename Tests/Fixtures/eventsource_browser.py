#!/usr/bin/env python3
"""Drives the streaming plugin's /events/demo page in headless Chromium: the browser's own
EventSource follows /events, /events/named and /logs/stream. Once both finite streams have
completed, it sends a log line through the page's form and waits for it to come back over
/logs/stream. Prints the texts of the page's list items as JSON.

Chromium is driven through the DevTools protocol over --remote-debugging-pipe (fds 3 and 4,
NUL-separated JSON), so it needs no WebSocket client and opens no debugging port.

usage: eventsource_browser.py CHROMIUM URL [TIMEOUT_SECONDS]
"""
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

chromium, url = sys.argv[1], sys.argv[2]
timeout = float(sys.argv[3]) if len(sys.argv) > 3 else 30

to_browser_r, to_browser_w = os.pipe()
from_browser_r, from_browser_w = os.pipe()


def child_fds():
    # Chromium reads commands from fd 3 and writes replies to fd 4. (dup2 onto the same number
    # keeps close-on-exec, hence set_inheritable.)
    reader, writer = os.dup(to_browser_r), os.dup(from_browser_w)
    os.dup2(reader, 3)
    os.dup2(writer, 4)
    os.set_inheritable(3, True)
    os.set_inheritable(4, True)


profile = tempfile.mkdtemp(prefix="switchboard-chromium-")
browser = subprocess.Popen(
    [chromium, "--no-sandbox", "--disable-gpu", "--headless", "--remote-debugging-pipe",
     "--user-data-dir=" + profile, "--no-first-run", "about:blank"],
    stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    preexec_fn=child_fds, close_fds=False)
os.close(to_browser_r)
os.close(from_browser_w)

pending = b""
last_id = 0


def call(method, params=None, session=None):
    global pending, last_id
    last_id += 1
    message = {"id": last_id, "method": method, "params": params or {}}
    if session:
        message["sessionId"] = session
    os.write(to_browser_w, json.dumps(message).encode() + b"\0")
    while True:
        while b"\0" not in pending:
            chunk = os.read(from_browser_r, 65536)
            if not chunk:
                raise SystemExit("chromium closed the pipe")
            pending += chunk
        raw, pending = pending.split(b"\0", 1)
        reply = json.loads(raw)
        if reply.get("id") == last_id:
            if "error" in reply:
                raise SystemExit(f"{method}: {reply['error']}")
            return reply["result"]


def evaluate(session, expression):
    result = call("Runtime.evaluate", {"expression": expression, "returnByValue": True}, session)
    return result["result"].get("value")


def wait_for(session, expression, what):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if evaluate(session, expression):
            return
        time.sleep(0.05)
    items = evaluate(session, 'JSON.stringify([...document.querySelectorAll("li")].map(li => li.textContent))')
    raise SystemExit(f"timed out waiting for {what}; the page shows {items}")


try:
    target = call("Target.createTarget", {"url": url})["targetId"]
    session = call("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
    wait_for(session, 'document.body?.dataset.complete === "true"', "both event streams to complete")
    evaluate(session, 'document.querySelector("#send input").value = "from the browser"; '
                      'document.querySelector("#send button").click(); true')
    wait_for(session, '[...document.querySelectorAll("#logs li")].some(li => li.textContent.endsWith("] from the browser"))',
             "the log line to come back over /logs/stream")
    print(evaluate(session, 'JSON.stringify([...document.querySelectorAll("li")].map(li => li.textContent))'))
finally:
    browser.kill()
    browser.wait()
    shutil.rmtree(profile, ignore_errors=True)
