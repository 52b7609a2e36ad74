"""Nutri's ML service: /health answers {"status": "healthy"} once its model
file (written on the first start into /models) reads back."""
import json
import os
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

MODEL = "/models/model.json"
os.makedirs("/models", exist_ok=True)
if not os.path.exists(MODEL):
    with open(MODEL, "w") as f:
        json.dump({"weights": [0.25, 0.5, 0.25]}, f)


class Handler(BaseHTTPRequestHandler):
    def do_GET(self):
        if self.path != "/health":
            return self.answer(404, {"detail": "Not Found"})
        with open(MODEL) as f:
            loaded = len(json.load(f)["weights"])
        self.answer(200, {"status": "healthy", "weights": loaded})

    def answer(self, code, body):
        data = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format, *args):
        print("INFO:", format % args, flush=True)


ThreadingHTTPServer(("0.0.0.0", 8000), Handler).serve_forever()
