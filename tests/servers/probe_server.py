#!/usr/bin/env python3
"""The check kinds' test servers on 127.0.0.1 (issue 36), each printing its
port on the first line of stdout, then serving until killed.

  probe_server.py http [CERT KEY]   GET /health: 200 "host=<Host>";
                                    GET /secure: 200 "welcome" with
                                    `Authorization: Bearer right-token-1234`,
                                    else 401 "denied: auth=<Authorization>"
  probe_server.py ws [CERT KEY]     "ping" -> "pong", "slow" -> "pong" after
                                    300 ms, anything else -> "echo <it>"
With CERT and KEY it speaks TLS (https://, wss://)."""
import asyncio
import http.server
import ssl
import sys


def tls(args):
    if len(args) < 2:
        return None
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(args[0], args[1])
    return context


class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        if self.path == "/secure":
            auth = self.headers.get("Authorization", "")
            if auth == "Bearer right-token-1234":
                code, body = 200, "welcome"
            else:
                code, body = 401, "denied: auth=" + auth
        else:
            code, body = 200, "host=" + self.headers.get("Host", "")
        data = body.encode()
        self.send_response(code)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass


def serve_http(args):
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    context = tls(args)
    if context:
        server.socket = context.wrap_socket(server.socket, server_side=True)
    print(server.server_address[1], flush=True)
    server.serve_forever()


async def serve_ws(args):
    from websockets.asyncio.server import serve

    async def handler(socket):
        async for message in socket:
            if message == "ping":
                await socket.send("pong")
            elif message == "slow":
                await asyncio.sleep(0.3)
                await socket.send("pong")
            else:
                await socket.send("echo " + str(message))

    async with serve(handler, "127.0.0.1", 0, ssl=tls(args)) as server:
        print(list(server.sockets)[0].getsockname()[1], flush=True)
        await asyncio.Future()


if __name__ == "__main__":
    kind, rest = sys.argv[1], sys.argv[2:]
    if kind == "http":
        serve_http(rest)
    else:
        asyncio.run(serve_ws(rest))
