'use strict';
// leakdiff test corpus generator: a tiny HTTP service (Node stdlib `http` only)
// that drives load against itself and writes @datadog/pprof heap profiles.
//
//   node service.js growing|steady OUTDIR [COUNT=30] [INTERVAL_MS=2000]
//
// growing: every request leaks
//   - registerHandler: a closure stored in the global Map `handlers` under a
//     fresh id, never deleted; the closure captures a Buffer.alloc(4096)
//     (ArrayBuffer backing store outside the V8 heap -> process external
//     memory, which @datadog/pprof reports as the `(external)` node) and a
//     small JS object + array (V8 heap);
//   - recordSession: a plain JS session record pushed onto the global array
//     `sessions`, never trimmed.
// steady: the same handlers, but `handlers` is an LRU of at most 500 entries
//   (oldest evicted) and `sessions` keeps the last 500 records.
// Both modes: ~100 requests/s over a keep-alive agent, a WARMUP_MS warm-up
// (default 6000) before the first profile, then COUNT profiles INTERVAL_MS apart.

const http = require('http');
const fs = require('fs');
const path = require('path');
const zlib = require('zlib');
const pprof = require('@datadog/pprof');

const mode = process.argv[2];
const outDir = process.argv[3];
const count = Number(process.argv[4] || 30);
const intervalMs = Number(process.argv[5] || 2000);
const warmupMs = Number(process.env.WARMUP_MS || 6000);
const SAMPLE_INTERVAL = 64 * 1024; // bytes between heap samples
const STACK_DEPTH = 64;
const LIMIT = 500;

if ((mode !== 'growing' && mode !== 'steady') || !outDir) {
  console.error('usage: node service.js growing|steady OUTDIR [COUNT] [INTERVAL_MS]');
  process.exit(2);
}
fs.mkdirSync(outDir, { recursive: true });

pprof.heap.start(SAMPLE_INTERVAL, STACK_DEPTH);

const bounded = mode === 'steady';
const handlers = new Map(); // id -> closure
const sessions = []; // session records

function registerHandler(id, req) {
  const payload = Buffer.alloc(4096); // external (ArrayBuffer backing store)
  payload.writeUInt32LE(id, 0);
  const meta = {
    id,
    method: req.method,
    url: req.url,
    created: Date.now(),
    tags: new Array(24).fill(id), // JS heap
  };
  const handler = function onEvent(ev) {
    return payload.readUInt32LE(0) + meta.tags.length + (ev ? 1 : 0);
  };
  handlers.set(id, handler);
  if (bounded && handlers.size > LIMIT) {
    handlers.delete(handlers.keys().next().value); // evict the oldest
  }
  return handler;
}

function recordSession(id, req) {
  const rec = {
    sid: 'sess-' + id.toString(36) + '-' + Math.random().toString(36).slice(2),
    user: 'user-' + (id % 1000),
    path: req.url,
    agent: String(req.headers['user-agent'] || ''),
    started: new Date(),
    hits: [id, id + 1, id + 2, id + 3, id + 4, id + 5, id + 6, id + 7],
    attrs: { region: 'r' + (id % 7), tier: id % 3, flag: (id & 1) === 1 },
  };
  sessions.push(rec);
  if (bounded && sessions.length > LIMIT) {
    sessions.splice(0, sessions.length - LIMIT);
  }
  return rec;
}

let nextId = 0;
function handleRequest(req, res) {
  const id = nextId++;
  const h = registerHandler(id, req);
  const s = recordSession(id, req);
  const body = JSON.stringify({ id, sid: s.sid, v: h(1), n: handlers.size, s: sessions.length });
  res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
  res.end(body);
}
const server = http.createServer(handleRequest);

server.listen(0, '127.0.0.1', () => {
  const port = server.address().port;
  const agent = new http.Agent({ keepAlive: true, maxSockets: 4 });
  let sent = 0;
  let failed = 0;
  const load = setInterval(function fireRequest() {
    sent++;
    http.get({ host: '127.0.0.1', port, path: '/item/' + sent, agent }, (res) => {
      res.resume();
    }).on('error', () => { failed++; });
  }, 10); // ~100 requests/s

  let n = 0;
  const t0 = Date.now();
  async function snapshot() {
    n++;
    const p = pprof.heap.profile();
    let buf = await pprof.encode(p);
    if (!(buf[0] === 0x1f && buf[1] === 0x8b)) buf = zlib.gzipSync(buf);
    const name = 'heap-' + String(n).padStart(3, '0') + '.pb.gz';
    fs.writeFileSync(path.join(outDir, name), buf);
    const m = process.memoryUsage();
    console.log([name, ((Date.now() - t0) / 1000).toFixed(1) + 's', 'req=' + nextId,
      'handlers=' + handlers.size, 'sessions=' + sessions.length,
      'heapUsed=' + m.heapUsed, 'external=' + m.external, 'arrayBuffers=' + m.arrayBuffers,
      'rss=' + m.rss, 'bytes=' + buf.length].join(' '));
    if (n >= count) {
      clearInterval(load);
      agent.destroy();
      server.close();
      console.log('done: sent=' + sent + ' failed=' + failed);
      process.exit(0);
    }
    setTimeout(snapshot, intervalMs);
  }
  setTimeout(snapshot, warmupMs);
});
