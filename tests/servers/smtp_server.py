"""A real SMTP server for opsbook's mail tests: aiosmtpd on 127.0.0.1.

With --cert/--key it offers STARTTLS and requires it, and requires AUTH
(only over TLS); without them it offers neither. Each message it accepts
is appended to MAILBOX as one JSON line: from, to, content, whether it
came over TLS and who logged in.

usage: smtp_server.py PORT MAILBOX --user U --password P [--cert C --key K]
"""

import argparse
import json
import signal
import ssl
import threading

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("port", type=int)
    parser.add_argument("mailbox")
    parser.add_argument("--user", required=True)
    parser.add_argument("--password", required=True)
    parser.add_argument("--cert")
    parser.add_argument("--key")
    args = parser.parse_args()

    def login(data):
        return data.decode() if isinstance(data, bytes) else data

    class Handler:
        async def handle_DATA(self, server, session, envelope):
            record = {
                "from": envelope.mail_from,
                "to": envelope.rcpt_tos,
                "content": envelope.content.decode("utf-8", "replace"),
                "tls": session.ssl is not None,
                "login": login(session.auth_data),
            }
            with open(args.mailbox, "a", encoding="utf-8") as mailbox:
                mailbox.write(json.dumps(record) + "\n")
            return "250 OK"

    def authenticate(server, session, envelope, mechanism, auth_data):
        if not isinstance(auth_data, LoginPassword):
            return AuthResult(success=False, handled=False)
        if auth_data.login.decode() == args.user and auth_data.password.decode() == args.password:
            return AuthResult(success=True, auth_data=auth_data.login)
        return AuthResult(success=False, handled=False)

    options = {}
    if args.cert:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(args.cert, args.key)
        options = {
            "tls_context": context,
            "require_starttls": True,
            "authenticator": authenticate,
            "auth_required": True,
            "auth_require_tls": True,
        }
    controller = Controller(Handler(), hostname="127.0.0.1", port=args.port, **options)
    controller.start()
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    stop.wait()
    controller.stop()


if __name__ == "__main__":
    main()
