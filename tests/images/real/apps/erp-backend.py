"""The ERP's FastAPI backend, in a few lines of the standard library: /health
writes a row to PostgreSQL and reads the count back, sets and reads a Redis
key, and answers {"status": "ok"} only when both worked."""
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


class Handler(BaseHTTPRequestHandler):
    def do_GET(self):
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
