// Nutri's Node.js backend: /health writes a row to PostgreSQL
// ($DATABASE_URL) and reads the count back; /health/live answers at once.
// Every request is logged as a JSON line with its duration_ms, as the page
// greps them.
const http = require("http");
const { Pool } = require("pg");

const pool = new Pool({ connectionString: process.env.DATABASE_URL, max: 4 });

async function health() {
  await pool.query("CREATE TABLE IF NOT EXISTS health_checks (id serial PRIMARY KEY, at timestamptz DEFAULT now())");
  await pool.query("INSERT INTO health_checks DEFAULT VALUES");
  const { rows } = await pool.query("SELECT count(*)::int AS n FROM health_checks");
  return rows[0].n;
}

http
  .createServer(async (req, res) => {
    const started = Date.now();
    let code = 200;
    let body;
    if (req.url === "/health/live") {
      body = "ok";
    } else if (req.url === "/health" || req.url === "/health/") {
      try {
        body = JSON.stringify({ status: "healthy", checks: await health() });
      } catch (error) {
        code = 503;
        body = JSON.stringify({ status: "unhealthy", error: error.message });
      }
    } else {
      code = 404;
      body = "not found";
    }
    res.writeHead(code, { "Content-Type": code === 200 && body !== "ok" ? "application/json" : "text/plain" });
    res.end(body);
    console.log(JSON.stringify({ msg: "request_completed", path: req.url, status: code, duration_ms: Date.now() - started }));
  })
  .listen(3000);
process.on("SIGINT", () => process.exit(0));
process.on("SIGTERM", () => process.exit(0));
