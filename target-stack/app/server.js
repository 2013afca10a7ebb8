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
// statement_timeout is the server's own bound on every statement (sent at connection start):
// a statement that runs past it is cancelled by PostgreSQL and frees its backend, where the
// client's query_timeout alone would leave it running after the client gave up.
const statementTimeoutMs = Number(env.DB_STATEMENT_TIMEOUT_MS || 4000);
const poolOptions = { password: secret('PGPASSWORD') || undefined, ssl: dbSsl, connectionTimeoutMillis: 2000, idleTimeoutMillis: 0, query_timeout: 5000, statement_timeout: statementTimeoutMs };
const pool = new Pool({ ...poolOptions, max: poolMax });
pool.on('error', (err) => log('postgres pool error', { error: err.message }));
// /ready's own connection. In the traffic's pool its SELECT 1 waited behind every request
// already queued there, so it measured the pool's backlog, not the database: a replica just
// scaled up from nothing took the load's waiting requests at once, its check waited past the
// edge's 1 s check time-out, and the edge took the only replica out again (CI, under load).
const readinessPool = new Pool({ ...poolOptions, max: 1 });
readinessPool.on('error', (err) => log('postgres readiness connection error', { error: err.message }));
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

// Bad input is the client's error and is answered 4xx, never 5xx: a 5xx fires the stack's
// error-ratio alerts and makes the deploy guard roll a good release back, so a client that
// could cause one at will could do both. Ids are checked here; what only the database can
// judge (SQLSTATE class 22, data exceptions, and 54, program limits such as nesting) is a
// 400 too, and any other database error stays a 503.
const ID_MAX = 128;
const PAYLOAD_DEPTH_MAX = 32;
const CONTROL_CHARACTER = /[\u0000-\u001f\u007f]/;

function idProblem(id) {
  if (typeof id !== 'string' || id.length === 0 || id.length > ID_MAX) return `id must be a non-empty string of at most ${ID_MAX} characters`;
  if (CONTROL_CHARACTER.test(id)) return 'id must not contain control characters';
  return null;
}

// A payload nested deeper than PAYLOAD_DEPTH_MAX, or holding a NUL character in a string or a
// key (PostgreSQL's jsonb cannot store one), is refused. Walked without recursion, so that a
// payload nested 30,000 deep (it fits in 64 kB) costs a loop, not the stack.
function payloadProblem(payload) {
  const pending = [[payload, 1]];
  while (pending.length > 0) {
    const [value, depth] = pending.pop();
    if (typeof value === 'string') {
      if (value.includes('\u0000')) return 'payload must not contain NUL characters';
    } else if (value !== null && typeof value === 'object') {
      if (depth > PAYLOAD_DEPTH_MAX) return `payload must not be nested deeper than ${PAYLOAD_DEPTH_MAX} levels`;
      for (const [key, child] of Object.entries(value)) {
        if (key.includes('\u0000')) return 'payload must not contain NUL characters';
        pending.push([child, depth + 1]);
      }
    }
  }
  return null;
}

function clientFault(err) {
  return typeof err.code === 'string' && (err.code.startsWith('22') || err.code.startsWith('54'));
}

// A database error's answer: 400 when the input was at fault, 503 otherwise.
function databaseFailure(res, err, what, extra) {
  if (clientFault(err)) return res.status(400).json({ error: 'the database refused this input', sqlstate: err.code });
  log(what, { ...extra, error: err.message });
  return res.status(503).json({ error: 'database unavailable' });
}

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

// /ready and /metrics are for the load balancer's checks and Prometheus, which reach each task
// on the stack's network. The edge marks every request it forwards (X-Devsim-Edge, set by
// HAProxy over whatever the client sent), and such a request gets neither: whatever spelling
// Express's routing would match (/READY, /metrics/), the answer is a 404.
const internalOnly = (req, res, next) => (req.get('x-devsim-edge') ? res.status(404).json({ error: 'not found' }) : next());

app.get('/ready', internalOnly, async (req, res) => {
  if (config.breakage === 'never-ready') return res.status(503).json({ ready: false, reason: 'starting' });
  if (draining) return res.status(503).json({ ready: false, reason: 'draining' });
  const [db, cache] = await Promise.allSettled([
    withTimeout(readinessPool.query('SELECT 1'), 'postgres'),
    redisCall(() => redis.ping()),
  ]);
  const ready = db.status === 'fulfilled' && cache.status === 'fulfilled';
  return res.status(ready ? 200 : 503).json({
    ready,
    postgres: db.status === 'fulfilled' ? 'ok' : String(db.reason && db.reason.message),
    redis: cache.status === 'fulfilled' ? 'ok' : String(cache.reason && cache.reason.message),
  });
});

app.get('/metrics', internalOnly, (req, res) => res.type('text/plain; version=0.0.4').send(metrics.render()));

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

app.post('/api/items', requireAccess, async (req, res) => {
  const { id, payload } = req.body || {};
  const problem = idProblem(id) || payloadProblem(payload);
  if (problem) return res.status(400).json({ error: problem });
  const body = JSON.stringify(payload === undefined ? null : payload);
  try {
    // Answered 201 only after the INSERT has committed (autocommit).
    await pool.query('INSERT INTO items (id, payload, written_by) VALUES ($1, $2, $3)', [id, body, os.hostname()]);
    return res.status(201).json({ id });
  } catch (err) {
    if (err.code === '23505') return replayedWrite(res, id, body);
    return databaseFailure(res, err, 'write failed', { id });
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
    return databaseFailure(res, err, 'write replay check failed', { id });
  }
}

app.get('/api/items/:id', async (req, res) => {
  const problem = idProblem(req.params.id);
  if (problem) return res.status(400).json({ error: problem });
  try {
    const result = await pool.query('SELECT id, payload, created_at FROM items WHERE id = $1', [req.params.id]);
    if (result.rowCount === 0) return res.status(404).json({ error: 'not found' });
    return res.json(result.rows[0]);
  } catch (err) {
    return databaseFailure(res, err, 'read failed', { id: req.params.id });
  }
});

// A slow read, as every real app has one: the route whose requests are in flight when a
// replica is told to stop, which is what a graceful drain exists for.
// It costs a pooled connection for 250 ms, so it needs a token, and the edge caps its rate.
app.get('/api/report', requireAccess, async (req, res) => {
  try {
    const result = await pool.query('SELECT pg_sleep(0.25), count(*)::int AS items FROM items');
    return res.json({ items: result.rows[0].items });
  } catch (err) {
    return databaseFailure(res, err, 'report failed', {});
  }
});

app.post('/api/auth/token', async (req, res) => {
  // A token response is never stored by a cache on the way (RFC 6749 section 5.1), its
  // errors included.
  res.set({ 'Cache-Control': 'no-store', Pragma: 'no-cache' });
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

// The data routes that cost the database (writes, the report): a well-signed, unexpired token
// whose session Redis still holds. When Redis does not answer within DEPENDENCY_TIMEOUT_MS
// (fail-fast or not), the signature and expiry alone admit it: a Redis outage degrades auth
// (new tokens, revocation), not the service, and a revoked token keeps these routes for at
// most its remaining lifetime (TOKEN_TTL_SECONDS) while Redis is away. /api/me and revoke
// keep the strict check (503 without Redis).
async function requireAccess(req, res, next) {
  const claims = await auth.verify(auth.bearer(req), signingKey, Math.floor(Date.now() / 1000));
  if (!claims) return res.status(401).set('WWW-Authenticate', 'Bearer error="invalid_token"').json({ error: 'invalid_token' });
  let owner;
  try {
    owner = await withTimeout(Promise.resolve().then(() => redis.get(`session:${claims.jti}`)), 'redis');
  } catch (err) {
    owner = claims.sub; // Redis away: admitted on the signature (see above)
  }
  if (owner !== claims.sub) return res.status(401).set('WWW-Authenticate', 'Bearer error="invalid_token"').json({ error: 'invalid_token', reason: 'revoked or expired session' });
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

// What Express or its body parser refuse (malformed JSON, a body over the limit, a path that
// does not decode) is answered in JSON with its own 4xx; only a fault of the app itself is a
// 500, logged without echoing the request.
// eslint-disable-next-line no-unused-vars
app.use((err, req, res, next) => {
  const status = Number.isInteger(err.status) && err.status >= 400 && err.status < 500 ? err.status : 500;
  if (status === 500) {
    log('unhandled error', { error: err.message });
    return res.status(500).json({ error: 'internal error' });
  }
  return res.status(status).json({ error: status === 413 ? 'request body too large' : 'malformed request' });
});

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
  readinessPool.connect().then((client) => client.release()).catch(() => null);
}, Number(env.STARTUP_DELAY_SECONDS || 0) * 1000);

function shutdown() {
  Promise.allSettled([pool.end(), readinessPool.end(), redis.quit()]).then(() => {
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
