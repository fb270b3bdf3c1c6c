"""An NTLM-authenticating reverse proxy built on pyspnego's acceptor (jborean93/pyspnego), an
NTLM implementation spmt did not write: it holds spmt's NTLM client to an independent server.

Each connection signs in once (NEGOTIATE -> CHALLENGE -> AUTHENTICATE on the same socket, as
IIS does); after that its requests are forwarded to the upstream farm and the answers streamed
back. Accounts come from NTLM_USER_FILE (`DOMAIN:USER:PASSWORD` lines), pyspnego's own setting.

    python3 proxy.py UPSTREAM_URL        prints the port it listens on, then serves
"""

import base64
import http.client
import http.server
import sys
import urllib.parse

import spnego

UPSTREAM = urllib.parse.urlsplit(sys.argv[1])


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive: NTLM signs in the connection

    def setup(self):
        super().setup()
        self.ctx = None
        self.signed_in = False

    def log_message(self, *args):
        pass

    def deny(self, header_values):
        body = b'{"error":"sign in"}'
        self.send_response(401)
        for v in header_values:
            self.send_header("WWW-Authenticate", v)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        if not self.signed_in:
            auth = self.headers.get("Authorization", "")
            scheme, _, token = auth.partition(" ")
            if scheme.lower() not in ("ntlm", "negotiate") or not token:
                self.ctx = None
                return self.deny(["Negotiate", "NTLM"])
            try:
                raw = base64.b64decode(token)
            except Exception:
                return self.deny(["Negotiate", "NTLM"])
            # A NEGOTIATE message starts a handshake afresh, whatever came before (as IIS does).
            if self.ctx is None or raw[8:9] == b"\x01":
                self.ctx = spnego.server(protocol="ntlm")
            try:
                out = self.ctx.step(raw)
            except Exception:  # a wrong password ends here
                self.ctx = None
                return self.deny(["Negotiate", "NTLM"])
            if not self.ctx.complete:
                return self.deny(["%s %s" % (scheme, base64.b64encode(out).decode())])
            self.signed_in = True
        self.forward()

    def forward(self):
        conn = http.client.HTTPConnection(UPSTREAM.hostname, UPSTREAM.port, timeout=60)
        headers = {k: v for k, v in self.headers.items() if k.lower() not in ("authorization", "host", "connection")}
        conn.request("GET", self.path, headers=headers)
        resp = conn.getresponse()
        self.send_response(resp.status)
        length = resp.getheader("Content-Length")
        for k, v in resp.getheaders():
            if k.lower() not in ("transfer-encoding", "connection", "content-length"):
                self.send_header(k, v)
        if length is None:
            data = resp.read()
            length = str(len(data))
        else:
            data = None
        self.send_header("Content-Length", length)
        self.end_headers()
        if data is not None:
            self.wfile.write(data)
        else:
            while True:
                chunk = resp.read(65536)
                if not chunk:
                    break
                self.wfile.write(chunk)
        conn.close()


server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
print(server.server_address[1], flush=True)
server.serve_forever()
