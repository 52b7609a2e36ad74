// Fulsk's Node.js backend: /health writes a reading to TimescaleDB's
// PostgreSQL and reads the count back, and caches it in Redis; /ws is its
// live-readings WebSocket (Debian's node-ws), answering "ping" with "pong".
const http = require("http");
const { Pool } = require("pg");
const redis = require("redis");
const { WebSocketServer } = require("ws");

const pool = new Pool({ connectionString: process.env.DATABASE_URL, max: 4 });
const cache = redis.createClient({ url: process.env.REDIS_URL });
cache.on("error", (error) => console.error("redis error", error.message));
const ready = cache.connect();

async function health() {
  await pool.query("CREATE TABLE IF NOT EXISTS readings (id serial PRIMARY KEY, watts int, at timestamptz DEFAULT now())");
  await pool.query("INSERT INTO readings (watts) VALUES (42)");
  const { rows } = await pool.query("SELECT count(*)::int AS n FROM readings");
  await ready;
  await cache.set("fulsk:readings", String(rows[0].n));
  return Number(await cache.get("fulsk:readings"));
}

const server = http
  .createServer(async (req, res) => {
    if (req.url !== "/health") {
      res.writeHead(404);
      return res.end("not found");
    }
    try {
      const readings = await health();
      res.writeHead(200, { "Content-Type": "text/plain" });
      res.end(`ok ${readings}`);
    } catch (error) {
      res.writeHead(503, { "Content-Type": "text/plain" });
      res.end(`error: ${error.message}`);
    }
  })
  .listen(3001);
new WebSocketServer({ server, path: "/ws" }).on("connection", (socket) => {
  socket.on("message", (data) => socket.send(String(data) === "ping" ? "pong" : `readings ${data}`));
});
process.on("SIGINT", () => process.exit(0));
process.on("SIGTERM", () => process.exit(0));
