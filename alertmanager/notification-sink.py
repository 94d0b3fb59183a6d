#!/usr/bin/env python3
"""Biblio's local notification sink: where Alertmanager's notifications land when no real
pager or mail server exists (the native stack, docker compose, end-to-end tests).

Standard library only. It listens on two ports:

  HTTP  (default 127.0.0.1:9099)
    POST /alerts   an Alertmanager webhook notification (JSON); stored and logged
    GET  /alerts   every notification received so far, as a JSON list (oldest first)
    GET  /emails   every e-mail received so far: from, to, subject, text
    GET  /healthz  "ok"
  SMTP  (default 127.0.0.1:1025)
    a minimal plain-text SMTP server accepting any mail (what Alertmanager's email_configs
    need: EHLO/HELO, MAIL, RCPT, DATA, RSET, NOOP, QUIT; no TLS, no AUTH)

Each notification is also printed as one JSON line on stdout and, with --out FILE, appended
to FILE, so a test can wait for an alert with `grep` or `GET /alerts`.

  python3 alertmanager/notification-sink.py [--http HOST:PORT] [--smtp HOST:PORT] [--out FILE]
"""

import argparse
import email
import email.policy
import json
import socketserver
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

MAX_KEPT = 1000  # bounded memory: the oldest notifications are forgotten first

_lock = threading.Lock()
_alerts = []
_emails = []
_out_path = None


def _record(kind, item, store):
    line = json.dumps({"kind": kind, "received_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), **item})
    with _lock:
        store.append(item)
        del store[:-MAX_KEPT]
        print(line, flush=True)
        if _out_path:
            with open(_out_path, "a", encoding="utf-8") as out:
                out.write(line + "\n")


class WebhookHandler(BaseHTTPRequestHandler):
    server_version = "biblio-notification-sink"

    def _send(self, code, body, content_type="application/json"):
        data = body.encode() if isinstance(body, str) else body
        self.send_response(code)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        if self.path == "/healthz":
            self._send(200, "ok\n", "text/plain")
        elif self.path == "/alerts":
            with _lock:
                self._send(200, json.dumps(_alerts))
        elif self.path == "/emails":
            with _lock:
                self._send(200, json.dumps(_emails))
        else:
            self._send(404, '{"error":"not found"}')

    def do_POST(self):
        if self.path != "/alerts":
            self._send(404, '{"error":"not found"}')
            return
        length = int(self.headers.get("Content-Length") or 0)
        if length > 10 * 1024 * 1024:
            self._send(413, '{"error":"too large"}')
            return
        try:
            payload = json.loads(self.rfile.read(length) or b"null")
        except ValueError:
            self._send(400, '{"error":"body is not JSON"}')
            return
        _record("webhook", {"notification": payload}, _alerts)
        self._send(200, '{"status":"received"}')

    def log_message(self, fmt, *args):  # the JSON line per notification is the log
        pass


class SmtpHandler(socketserver.StreamRequestHandler):
    """Just enough SMTP for Alertmanager: one or more mails per connection, no extensions."""

    def reply(self, line):
        self.wfile.write((line + "\r\n").encode())

    def handle(self):
        self.reply("220 biblio-notification-sink ESMTP")
        sender, recipients = None, []
        while True:
            raw = self.rfile.readline(65536)
            if not raw:
                return
            line = raw.decode("utf-8", "replace").rstrip("\r\n")
            verb = line.split(" ", 1)[0].upper()
            if verb == "EHLO":
                self.wfile.write(b"250-biblio-notification-sink\r\n250-8BITMIME\r\n250 SIZE 10485760\r\n")
            elif verb == "HELO":
                self.reply("250 biblio-notification-sink")
            elif verb == "MAIL":
                sender, recipients = line[10:].strip().strip("<>").split(">")[0], []
                self.reply("250 OK")
            elif verb == "RCPT":
                recipients.append(line[8:].strip().strip("<>").split(">")[0])
                self.reply("250 OK")
            elif verb == "DATA":
                self.reply("354 End data with <CR><LF>.<CR><LF>")
                chunks = []
                while True:
                    data = self.rfile.readline(1 << 20)
                    if not data or data in (b".\r\n", b".\n"):
                        break
                    chunks.append(data[1:] if data.startswith(b"..") else data)
                message = email.message_from_bytes(b"".join(chunks), policy=email.policy.default)
                body = message.get_body(preferencelist=("plain", "html"))
                _record("email", {
                    "from": sender,
                    "to": recipients,
                    "subject": str(message.get("Subject", "")),
                    "text": body.get_content() if body is not None else "",
                }, _emails)
                self.reply("250 OK: queued")
            elif verb in ("RSET", "NOOP"):
                sender, recipients = (None, []) if verb == "RSET" else (sender, recipients)
                self.reply("250 OK")
            elif verb == "QUIT":
                self.reply("221 Bye")
                return
            else:
                self.reply("502 Command not implemented")


class ThreadingSmtpServer(socketserver.ThreadingMixIn, socketserver.TCPServer):
    daemon_threads = True
    allow_reuse_address = True


def _address(text):
    host, _, port = text.rpartition(":")
    return host or "127.0.0.1", int(port)


def main():
    global _out_path
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--http", default="127.0.0.1:9099", help="webhook listen address")
    parser.add_argument("--smtp", default="127.0.0.1:1025", help="SMTP listen address ('' to disable)")
    parser.add_argument("--out", default=None, help="append every notification to this JSON-lines file")
    args = parser.parse_args()
    _out_path = args.out

    http_server = ThreadingHTTPServer(_address(args.http), WebhookHandler)
    http_server.daemon_threads = True
    smtp_bound = None
    if args.smtp:
        smtp_server = ThreadingSmtpServer(_address(args.smtp), SmtpHandler)
        threading.Thread(target=smtp_server.serve_forever, daemon=True).start()
        smtp_bound = "%s:%d" % smtp_server.server_address[:2]
    # The addresses actually bound (port 0 picks a free one, which tests use).
    http_bound = "%s:%d" % http_server.server_address[:2]
    print(json.dumps({"kind": "started", "http": http_bound, "smtp": smtp_bound}), flush=True)
    try:
        http_server.serve_forever()
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
