// An open-loop (constant-rate) or closed-loop HTTP load generator for bench/bench_serve.py.
//
// Debian 12 has no vegeta (nor wrk2), and h2load walks its URI list in the same order on
// every client, so a random-id run would be mostly cache hits; this does what vegeta's
// `attack -rate` does, on Node's own HTTP client, in a process of its own.
//
// Open loop (--rate R > 0): request i is due at t0 + i / R whatever happened before, so a
// slow answer cannot hold the next one back (no coordinated omission); its latency is
// measured from when it was due (`latency`) and from when it was written (`service`).
// Closed loop (--rate 0): --connections loops, each sends the next request on an answer.
//
//   node loadgen.js --url http://127.0.0.1:8000 --paths FILE --rate 1000 --duration 20
//   node loadgen.js --url ... --bodies FILE.jsonl --rate 10 --connections 4   (POST /v1/events)
//
// Prints one JSON object: counts, statuses, errors and percentiles in microseconds.
"use strict";
const http = require("http");
const fs = require("fs");

function args() {
  const a = { rate: 1000, duration: 10, warmup: 1, connections: 64, timeout: 5, token: "" };
  const argv = process.argv.slice(2);
  for (let i = 0; i < argv.length; i += 2) a[argv[i].replace(/^--/, "")] = argv[i + 1];
  for (const k of ["rate", "duration", "warmup", "connections", "timeout"]) a[k] = Number(a[k]);
  return a;
}

const opt = args();
const url = new URL(opt.url);
const agent = new http.Agent({ keepAlive: true, maxSockets: opt.connections });
const paths = opt.paths ? fs.readFileSync(opt.paths, "utf8").split("\n").filter(Boolean) : null;
const bodies = opt.bodies
  ? fs.readFileSync(opt.bodies, "utf8").split("\n").filter(Boolean).map((b) => Buffer.from(b))
  : null;
const headers = { authorization: `Bearer ${opt.token}` };
const now = () => Number(process.hrtime.bigint() / 1000n); // microseconds

const lat = [];
const svc = [];
const statuses = {};
const errors = {};
let sent = 0;
let done = 0;
let inflight = 0;
let accepted = 0;
let next = 0; // next body
let t0 = 0;
let measureFrom = 0;
let stopAt = 0;
let firstDone = 0;
let lastDone = 0;
let stopped = false;
let forced = false;

function request(due, cb) {
  let path;
  let body = null;
  if (bodies) {
    if (next >= bodies.length) return false;
    body = bodies[next++];
    path = "/v1/events";
  } else {
    path = paths[Math.floor(Math.random() * paths.length)];
  }
  const h = body ? { ...headers, "content-type": "application/json", "content-length": body.length } : headers;
  let written = 0;
  let finished = false;
  sent++;
  inflight++;
  const req = http.request(
    { agent, host: url.hostname, port: url.port, path, method: body ? "POST" : "GET", headers: h },
    (res) => {
      const chunks = [];
      res.on("data", (c) => chunks.push(c));
      res.on("end", () => finish(res.statusCode, chunks));
    },
  );
  req.on("socket", () => { written = now(); });
  req.setTimeout(opt.timeout * 1000, () => req.destroy(new Error("timeout")));
  req.on("error", (e) => finish(-1, null, e.message));
  req.end(body || undefined);

  function finish(status, chunks, err) {
    if (finished) return;
    finished = true;
    const t = now();
    inflight--;
    done++;
    if (due >= measureFrom && due < stopAt) {
      lat.push(t - due);
      svc.push(t - (written || due));
      statuses[status] = (statuses[status] || 0) + 1;
      if (err) errors[err] = (errors[err] || 0) + 1;
      if (!firstDone) firstDone = t;
      lastDone = t;
      if (body && status >= 200 && status < 300 && chunks) {
        try { accepted += JSON.parse(Buffer.concat(chunks).toString()).accepted || 0; } catch (e) { /* counted by status */ }
      }
    }
    if (cb) cb();
    maybeEnd();
  }
  return true;
}

function pct(xs) {
  if (!xs.length) return {};
  const s = Float64Array.from(xs).sort();
  const q = (p) => s[Math.min(s.length - 1, Math.ceil(p * s.length) - 1)];
  let sum = 0;
  for (const x of s) sum += x;
  return { n: s.length, mean: sum / s.length, p50: q(0.5), p90: q(0.9), p99: q(0.99), p999: q(0.999), max: s[s.length - 1] };
}

function maybeEnd(cut) {
  if (!stopped || inflight > 0) return;
  if (cut !== undefined) inflight = cut;
  const measured = lat.length;
  const span = (Math.min(stopAt, lastDone) - measureFrom) / 1e6;
  const out = {
    mode: opt.rate > 0 ? "open" : "closed",
    rate: opt.rate,
    connections: opt.connections,
    duration_s: opt.duration,
    warmup_s: opt.warmup,
    sent,
    done, // answered (or failed), warm-up included
    measured,
    achieved_rps: span > 0 ? measured / span : null,
    statuses,
    errors,
    non_2xx: Object.entries(statuses).filter(([k]) => !(k >= 200 && k < 300)).reduce((a, [, v]) => a + v, 0),
    accepted,
    // still unanswered when the run was cut short: the slowest, not in the percentiles
    unfinished: forced ? inflight : 0,
    // this process's own CPU: on 2 cores the load generator competes with the server
    loadgen_cpu_s: (process.cpuUsage().user + process.cpuUsage().system) / 1e6,
    wall_s: (now() - t0) / 1e6,
    latency_us: pct(lat),
    service_us: pct(svc),
  };
  process.stdout.write(JSON.stringify(out) + "\n");
  process.exit(0);
}

function openLoop() {
  let issued = 0;
  const period = 1e6 / opt.rate;
  const tick = setInterval(() => {
    const t = now();
    if (t >= stopAt) {
      clearInterval(tick);
      stopped = true;
      maybeEnd();
      return;
    }
    while (t0 + issued * period <= t) {
      const due = t0 + issued * period;
      issued++;
      if (!request(due)) { clearInterval(tick); stopped = true; maybeEnd(); return; }
    }
  }, 1);
}

function closedLoop() {
  const loop = () => {
    const t = now();
    if (t >= stopAt) { stopped = true; maybeEnd(); return; }
    if (!request(t, loop)) { stopped = true; maybeEnd(); }
  };
  for (let i = 0; i < opt.connections; i++) loop();
}

t0 = now();
measureFrom = t0 + opt.warmup * 1e6;
stopAt = measureFrom + opt.duration * 1e6;
if (opt.rate > 0) openLoop(); else closedLoop();
// a server that stops answering must not hang the bench
setTimeout(() => { stopped = true; forced = true; const n = inflight; inflight = 0; maybeEnd(n); }, (opt.warmup + opt.duration + opt.timeout + 5) * 1000).unref();
