// DevOps Simulator application server (production profile; PROFILE=development opens CORS
// and the debug endpoints, for the development profile only).
// Every behaviour the harness checks is switchable through the environment, so that
// each safety mechanism can be turned off and the matching check shown to fail.
'use strict';
const os = require('os');
const express = require('express');
const { Pool } = require('pg');
const { createClient } = require('redis');
const auth = require('./auth');
const { Registry } = require('./metrics');

const env = process.env;
const fs = require('fs');
// A secret: the file NAME_FILE names (a Docker secret, the production profile), else the
// variable NAME itself (the development profile's plain-text settings), else ''.
function secret(name) {
  const file = env[`${name}_FILE`];
  if (file) {
    try {
      return fs.readFileSync(file, 'utf8').trim();
    } catch (err) {
      console.error(`cannot read ${name}_FILE (${file}): ${err.code || err.message}`);
      process.exit(1);
    }
  }
  return env[name] || '';
}
const config = {
  port: Number(env.PORT || 8080),
  version: env.APP_VERSION || 'v1',
  redisUrl: env.REDIS_URL || 'redis://cache:6379',
  redisPassword: env.REDIS_AUTH === 'off' ? '' : secret('REDIS_PASSWORD'),
  // No built-in signing key and no built-in client: without them the app does not start.
  jwtSecret: secret('JWT_SECRET'),
  clients: auth.parseClients(secret('OAUTH_CLIENTS')),
  tokenTtl: Number(env.TOKEN_TTL_SECONDS || 300),
  graceful: (env.GRACEFUL_SHUTDOWN || 'true') !== 'false',
  drainMs: Number(env.DRAIN_SECONDS || 3) * 1000,
  depTimeoutMs: Number(env.DEPENDENCY_TIMEOUT_MS || 1000),
  // Fail fast while Redis is away (503 within depTimeoutMs). Off: requests queue and hang.
  redisFailFast: (env.REDIS_FAIL_FAST || 'true') !== 'false',
  // Broken releases for the safe-deploy checks, baked in at build time (APP_BREAKAGE):
  //   crash        exits at start (a bad configuration)
  //   never-ready  runs but never finishes starting: /health and /ready answer 503 forever
  //   errors       healthy, but answers 500 to 30 % of /api requests
  //   slow         healthy, but every /api request takes 1.5 s longer
  breakage: env.BREAKAGE || '',
  profile: env.PROFILE || 'production',
};
if (config.jwtSecret.length < 32) {
  console.error('no token signing key: set JWT_SECRET_FILE (a Docker secret) or, for development, JWT_SECRET (32 characters or more)');
  process.exit(1);
}
if (config.clients.size === 0) {
  console.error('no OAuth2 client: set OAUTH_CLIENTS_FILE (a Docker secret) or, for development, OAUTH_CLIENTS (id:secret,...)');
  process.exit(1);
}
const signingKey = auth.signingKey(config.jwtSecret);
if (!['production', 'development'].includes(config.profile)) {
  console.error(`PROFILE must be production or development, not ${config.profile}`);
  process.exit(1);
}

const log = (msg, extra) => console.log(JSON.stringify({ ts: new Date().toISOString(), msg, ...extra }));
const metrics = new Registry(config.version);
let draining = false;
let inFlight = 0;
metrics.gauge('app_draining', '1 while the replica drains after SIGTERM.', () => (draining ? 1 : 0));
metrics.gauge('app_in_flight_requests', 'Requests being served now.', () => inFlight);

// PG* variables configure the pool (node-pg reads them itself).
// A warm pool is what keeps a slow database from costing a new connection (several round
// trips of authentication) per request; DB_POOL_MAX=1 switches that off for a negative control.
// It is filled at start and its idle connections are kept: with TLS a new connection costs
// five round trips before its first query (SSLRequest, the handshake, SCRAM's three), 1.5 s
// under db-latency's 300 ms, and a pool that had shrunk while idle paid it when the latency
// came (p95 of reads 2.2 s once in CI). A connection that breaks (failover) is dropped and
// made again on demand.
// TLS to PostgreSQL when the stack gives its CA (the production profile): the server's
// certificate must chain to it and name the host connected to. No CA: plain text (development).
const dbSsl = env.DB_SSL_CA_FILE ? { ca: fs.readFileSync(env.DB_SSL_CA_FILE, 'utf8'), rejectUnauthorized: true } : false;
const poolMax = Number(env.DB_POOL_MAX || 10);
const pool = new Pool({ password: secret('PGPASSWORD') || undefined, ssl: dbSsl, max: poolMax, connectionTimeoutMillis: 2000, idleTimeoutMillis: 0, query_timeout: 5000 });
pool.on('error', (err) => log('postgres pool error', { error: err.message }));
// Every connection opened before traffic needs it: a new one costs a TCP, TLS and SCRAM
// handshake (about 7 round trips; 2.1 s under the db-latency experiment's 300 ms). On a
// fresh stack the database may not accept connections yet when the app starts, so the
// warm-up tries again every 2 s until the pool is full (a fresh `up` then an experiment
// measured five 2.1 s reads at the fault's start when it gave up after one try).
const WARM_RETRY_MS = 2000;
const WARM_ATTEMPTS = 60;
function warmPool(attempt = 1) {
  const opening = [];
  for (let i = 0; i < poolMax; i += 1) opening.push(pool.connect().catch(() => null));
  Promise.all(opening).then((clients) => {
    const opened = clients.filter(Boolean);
    opened.forEach((client) => client.release());
    if (opened.length < poolMax && attempt < WARM_ATTEMPTS) {
      setTimeout(() => warmPool(attempt + 1), WARM_RETRY_MS);
      return;
    }
    log('database pool warm', { connections: opened.length, max: poolMax, attempts: attempt });
  });
}

const redis = createClient({
  url: config.redisUrl,
  password: config.redisPassword || undefined,
  disableOfflineQueue: config.redisFailFast, // fail fast while Redis is away instead of queueing
  socket: { connectTimeout: 1000, reconnectStrategy: (retries) => Math.min(100 * (retries + 1), 1000) },
});
redis.on('error', (err) => log('redis error', { error: err.message }));
redis.connect().catch((err) => log('redis connect failed', { error: err.message }));

class Unavailable extends Error {}

function withTimeout(promise, what) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Unavailable(`${what} timed out`)), config.depTimeoutMs);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

const redisCall = (fn) => (config.redisFailFast ? withTimeout(Promise.resolve().then(fn), 'redis') : Promise.resolve().then(fn)).catch((err) => {
  throw err instanceof Unavailable ? err : new Unavailable(`redis: ${err.message}`);
});

const app = express();
app.disable('x-powered-by');
app.use(express.json({ limit: '64kb' }));
app.use(express.urlencoded({ extended: false }));

if (config.profile === 'development') {
  log('development profile: CORS open to every origin, debug endpoints on');
  app.use((req, res, next) => {
    res.set('Access-Control-Allow-Origin', '*');
    res.set('Access-Control-Allow-Headers', 'Authorization, Content-Type');
    res.set('Access-Control-Allow-Methods', 'GET, POST, OPTIONS');
    return req.method === 'OPTIONS' ? res.status(204).end() : next();
  });
  // What this process runs with, secrets redacted.
  app.get('/debug/config', (req, res) => res.json({
    ...config,
    jwtSecret: '[redacted]',
    clients: [...config.clients.keys()].map((id) => ({ id, secret: '[redacted]' })),
    postgres: { host: env.PGHOST, port: env.PGPORT, user: env.PGUSER, database: env.PGDATABASE, password: '[redacted]' },
    node: process.version,
    pid: process.pid,
  }));
}

app.use((req, res, next) => {
  const started = process.hrtime.bigint();
  inFlight += 1;
  if (draining) res.set('Connection', 'close');
  res.on('close', () => {
    inFlight -= 1;
    const route = req.route ? req.baseUrl + req.route.path : 'unmatched';
    metrics.observeRequest(req.method, route, res.statusCode, Number(process.hrtime.bigint() - started) / 1e9);
  });
  next();
});

app.get('/health', (req, res) => {
  if (config.breakage === 'never-ready') return res.status(503).json({ status: 'starting', reason: 'waiting for a migration lock' });
  return res.json({ status: 'ok', version: config.version, host: os.hostname() });
});

app.get('/ready', async (req, res) => {
  if (config.breakage === 'never-ready') return res.status(503).json({ ready: false, reason: 'starting' });
  if (draining) return res.status(503).json({ ready: false, reason: 'draining' });
  const [db, cache] = await Promise.allSettled([
    withTimeout(pool.query('SELECT 1'), 'postgres'),
    redisCall(() => redis.ping()),
  ]);
  const ready = db.status === 'fulfilled' && cache.status === 'fulfilled';
  return res.status(ready ? 200 : 503).json({
    ready,
    postgres: db.status === 'fulfilled' ? 'ok' : String(db.reason && db.reason.message),
    redis: cache.status === 'fulfilled' ? 'ok' : String(cache.reason && cache.reason.message),
  });
});

app.get('/metrics', (req, res) => res.type('text/plain; version=0.0.4').send(metrics.render()));

let apiRequests = 0;
app.use('/api', (req, res, next) => {
  if (config.breakage === 'errors') {
    apiRequests += 1;
    if (apiRequests % 10 < 3) return res.status(500).json({ error: `injected fault of release ${config.version}` });
  }
  if (config.breakage === 'slow') return setTimeout(next, 1500);
  return next();
});

app.get('/api/version', (req, res) => res.json({ version: config.version, host: os.hostname() }));

app.post('/api/items', async (req, res) => {
  const { id, payload } = req.body || {};
  if (typeof id !== 'string' || id.length === 0 || id.length > 128) {
    return res.status(400).json({ error: 'id must be a non-empty string of at most 128 characters' });
  }
  const body = JSON.stringify(payload === undefined ? null : payload);
  try {
    // Answered 201 only after the INSERT has committed (autocommit).
    await pool.query('INSERT INTO items (id, payload, written_by) VALUES ($1, $2, $3)', [id, body, os.hostname()]);
    return res.status(201).json({ id });
  } catch (err) {
    if (err.code === '23505') return replayedWrite(res, id, body);
    log('write failed', { id, error: err.message });
    return res.status(503).json({ error: 'database unavailable' });
  }
});

// Replay-safe writes: the id is the write's identity, so the same id with the same payload
// is the same write sent again (a client's or the load balancer's retry after an answer was
// lost) and is answered as the first one was; another payload under that id is a conflict.
async function replayedWrite(res, id, body) {
  try {
    const stored = await pool.query('SELECT payload = $2::jsonb AS same FROM items WHERE id = $1', [id, body]);
    if (stored.rowCount === 1 && stored.rows[0].same) return res.status(201).json({ id });
    return res.status(409).json({ error: `item ${id} exists with another payload` });
  } catch (err) {
    log('write replay check failed', { id, error: err.message });
    return res.status(503).json({ error: 'database unavailable' });
  }
}

app.get('/api/items/:id', async (req, res) => {
  try {
    const result = await pool.query('SELECT id, payload, created_at FROM items WHERE id = $1', [req.params.id]);
    if (result.rowCount === 0) return res.status(404).json({ error: 'not found' });
    return res.json(result.rows[0]);
  } catch (err) {
    return res.status(503).json({ error: 'database unavailable' });
  }
});

// A slow read, as every real app has one: the route whose requests are in flight when a
// replica is told to stop, which is what a graceful drain exists for.
app.get('/api/report', async (req, res) => {
  try {
    const result = await pool.query('SELECT pg_sleep(0.25), count(*)::int AS items FROM items');
    return res.json({ items: result.rows[0].items });
  } catch (err) {
    return res.status(503).json({ error: 'database unavailable' });
  }
});

app.post('/api/auth/token', async (req, res) => {
  const grant = (req.body || {}).grant_type;
  if (grant !== 'client_credentials') return res.status(400).json({ error: 'unsupported_grant_type' });
  const cred = auth.clientCredentials(req);
  const known = cred.id && config.clients.get(cred.id);
  if (!known || !auth.safeEqual(known, cred.secret)) return res.status(401).json({ error: 'invalid_client' });
  const asked = Number((req.body || {}).expires_in);
  const ttl = Number.isInteger(asked) && asked > 0 ? Math.min(asked, config.tokenTtl) : config.tokenTtl;
  const now = Math.floor(Date.now() / 1000);
  const jti = require('crypto').randomUUID();
  try {
    await redisCall(() => redis.set(`session:${jti}`, cred.id, { EX: ttl }));
  } catch (err) {
    return res.status(503).json({ error: 'temporarily_unavailable' });
  }
  const token = await auth.sign({ sub: cred.id, iat: now, nbf: now, exp: now + ttl, jti }, signingKey);
  return res.json({ access_token: token, token_type: 'Bearer', expires_in: ttl });
});

// A valid session: well signed, unexpired, and still present (not revoked) in Redis.
async function requireToken(req, res, next) {
  const claims = await auth.verify(auth.bearer(req), signingKey, Math.floor(Date.now() / 1000));
  if (!claims) return res.status(401).set('WWW-Authenticate', 'Bearer error="invalid_token"').json({ error: 'invalid_token' });
  try {
    const owner = await redisCall(() => redis.get(`session:${claims.jti}`));
    if (owner === null) return res.status(401).json({ error: 'invalid_token', reason: 'revoked or expired session' });
    if (owner !== claims.sub) return res.status(401).json({ error: 'invalid_token', reason: 'session of another subject' });
  } catch (err) {
    return res.status(503).json({ error: 'temporarily_unavailable' });
  }
  req.claims = claims;
  return next();
}

app.get('/api/me', requireToken, (req, res) => res.json({ sub: req.claims.sub, jti: req.claims.jti, exp: req.claims.exp }));

app.post('/api/auth/revoke', requireToken, async (req, res) => {
  try {
    await redisCall(() => redis.del(`session:${req.claims.jti}`));
    return res.status(204).end();
  } catch (err) {
    return res.status(503).json({ error: 'temporarily_unavailable' });
  }
});

app.use((req, res) => res.status(404).json({ error: 'not found' }));

// Real services warm up before they listen (caches, JIT, migrations); STARTUP_DELAY_SECONDS
// stands for that, so a negative control can show what health-gated rollouts protect against.
let server = null;
if (config.breakage === 'crash') {
  log('fatal: cannot parse the configuration (broken release)', { version: config.version });
  process.exit(1);
}
setTimeout(() => {
  server = app.listen(config.port, () => log('listening', { port: config.port, version: config.version }));
  warmPool();
}, Number(env.STARTUP_DELAY_SECONDS || 0) * 1000);

function shutdown() {
  Promise.allSettled([pool.end(), redis.quit()]).then(() => {
    log('stopped');
    process.exit(0);
  });
}

process.on('SIGTERM', () => {
  if (!config.graceful) {
    log('SIGTERM: exiting at once (GRACEFUL_SHUTDOWN=false)');
    process.exit(0);
  }
  if (draining) return;
  draining = true;
  log('SIGTERM: draining', { drain_ms: config.drainMs });
  setTimeout(() => {
    if (!server) return shutdown();
    server.close(shutdown);
    server.closeIdleConnections();
    setTimeout(() => process.exit(0), 10000).unref();
  }, config.drainMs);
});
process.on('SIGINT', () => process.exit(0));
