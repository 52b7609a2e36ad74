"""The ERP's FastAPI backend, in a few lines of the standard library: /health
writes a row to PostgreSQL and reads the count back, sets and reads a Redis
key, and answers {"status": "ok"} only when both worked. /api/v1/auth/me
answers the user of the bearer token ERP_API_TOKEN, and POST
/admin/reports/performance queues a report for ERP_ADMIN_TOKEN; any other
token is 401."""
import datetime
import json
import os
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import psycopg2
import redis

DATABASE_URL = os.environ["DATABASE_URL"]
CACHE = redis.Redis.from_url(os.environ["REDIS_URL"])


def database():
    connection = psycopg2.connect(DATABASE_URL)
    connection.autocommit = True
    return connection


with database() as connection, connection.cursor() as cursor:
    cursor.execute("CREATE TABLE IF NOT EXISTS health_checks (id serial PRIMARY KEY, at timestamptz DEFAULT now())")


def bearer(handler, variable):
    """Whether the request carries the token in `variable`."""
    token = os.environ.get(variable)
    return token and handler.headers.get("Authorization") == f"Bearer {token}"


class Handler(BaseHTTPRequestHandler):
    def do_POST(self):
        if self.path != "/admin/reports/performance":
            return self.answer(404, {"detail": "Not Found"})
        if not bearer(self, "ERP_ADMIN_TOKEN"):
            return self.answer(401, {"detail": "Not authenticated"})
        length = int(self.headers.get("Content-Length", "0"))
        try:
            request = json.loads(self.rfile.read(length))
            period = f"{request['start_date']}..{request['end_date']}"
        except (ValueError, KeyError) as error:
            return self.answer(422, {"detail": f"bad request: {error}"})
        self.answer(202, {"status": "queued", "period": period})

    def do_GET(self):
        if self.path == "/api/v1/auth/me":
            if not bearer(self, "ERP_API_TOKEN"):
                return self.answer(401, {"detail": "Not authenticated"})
            return self.answer(200, {"username": "ops", "role": "monitor"})
        if self.path != "/health":
            return self.answer(404, {"detail": "Not Found"})
        try:
            with database() as connection, connection.cursor() as cursor:
                cursor.execute("INSERT INTO health_checks DEFAULT VALUES")
                cursor.execute("SELECT count(*) FROM health_checks")
                count = cursor.fetchone()[0]
            CACHE.set("erp:last_health", str(count))
            cached = int(CACHE.get("erp:last_health"))
        except Exception as error:  # the answer says what failed
            return self.answer(503, {"status": "error", "detail": str(error)})
        now = datetime.datetime.now(datetime.timezone.utc).isoformat()
        self.answer(200, {"status": "ok", "timestamp": now, "checks": cached})

    def answer(self, code, body):
        data = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format, *args):
        print("INFO:", format % args, flush=True)


ThreadingHTTPServer(("0.0.0.0", int(os.environ.get("PORT", "8000"))), Handler).serve_forever()
