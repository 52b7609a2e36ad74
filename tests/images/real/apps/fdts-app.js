// FDTS's Node.js app: /api/health writes an audit row to the SQLite
// database in /app/data and reads the count back.
const http = require("http");
const fs = require("fs");
const sqlite3 = require("sqlite3");

fs.mkdirSync("/app/data", { recursive: true });
const db = new sqlite3.Database("/app/data/database.sqlite");
db.run("CREATE TABLE IF NOT EXISTS audit_logs (id INTEGER PRIMARY KEY, action TEXT, timestamp TEXT DEFAULT (datetime('now')))");

function health() {
  return new Promise((resolve, reject) => {
    db.run("INSERT INTO audit_logs (action) VALUES ('health')", (error) => {
      if (error) return reject(error);
      db.get("SELECT count(*) AS n FROM audit_logs", (error, row) => (error ? reject(error) : resolve(row.n)));
    });
  });
}

http
  .createServer(async (req, res) => {
    if (req.url !== "/api/health") {
      res.writeHead(404);
      return res.end("not found");
    }
    try {
      const rows = await health();
      res.writeHead(200, { "Content-Type": "application/json" });
      res.end(JSON.stringify({ status: "ok", audit_logs: rows }));
    } catch (error) {
      res.writeHead(503, { "Content-Type": "application/json" });
      res.end(JSON.stringify({ status: "error", error: error.message }));
    }
  })
  .listen(3001);
process.on("SIGINT", () => db.close(() => process.exit(0)));
process.on("SIGTERM", () => db.close(() => process.exit(0)));
