// OAuth2 client-credentials grant issuing HS256 JWTs, with sessions kept in Redis so
// that a token can be revoked and expires with its session.
'use strict';
const crypto = require('crypto');

function b64url(buf) {
  return Buffer.from(buf).toString('base64').replace(/=+$/, '').replace(/\+/g, '-').replace(/\//g, '_');
}

function fromB64url(text) {
  return Buffer.from(text.replace(/-/g, '+').replace(/_/g, '/'), 'base64');
}

// Every token names who issued it and for whom; verify() refuses any other.
const ISSUER = 'devsim-app';
const AUDIENCE = 'devsim-api';
const PART = /^[A-Za-z0-9_-]+$/;

function sign(claims, secret) {
  const head = b64url(JSON.stringify({ alg: 'HS256', typ: 'JWT' }));
  const body = b64url(JSON.stringify({ iss: ISSUER, aud: AUDIENCE, ...claims }));
  const mac = b64url(crypto.createHmac('sha256', secret).update(`${head}.${body}`).digest());
  return `${head}.${body}.${mac}`;
}

// A part of a compact JWT: base64url without padding, and nothing else. Node's decoder skips
// characters outside the alphabet, so without this check a signature with junk after it
// (`...sig!!`, `...sig=`) decoded to the same bytes and was accepted.
function decodePart(text) {
  if (!PART.test(text)) return null;
  const buf = fromB64url(text);
  return b64url(buf) === text ? buf : null;
}

function parseObject(buf) {
  try {
    const value = JSON.parse(buf.toString('utf8'));
    return value && typeof value === 'object' && !Array.isArray(value) ? value : null;
  } catch (err) {
    return null;
  }
}

// Returns the claims of a token that is well formed, signed with HS256 (the only algorithm:
// `alg: none` or any other is refused before any check), issued by us for us, already valid
// (nbf) and not yet expired (exp); null otherwise.
function verify(token, secret, nowSeconds) {
  const parts = String(token || '').split('.');
  if (parts.length !== 3) return null;
  const decoded = parts.map(decodePart);
  if (decoded.some((d) => d === null)) return null;
  const header = parseObject(decoded[0]);
  const claims = parseObject(decoded[1]);
  if (!header || !claims || header.alg !== 'HS256' || (header.typ !== undefined && header.typ !== 'JWT')) return null;
  const expected = crypto.createHmac('sha256', secret).update(`${parts[0]}.${parts[1]}`).digest();
  if (decoded[2].length !== expected.length || !crypto.timingSafeEqual(decoded[2], expected)) return null;
  if (typeof claims.exp !== 'number' || claims.exp <= nowSeconds) return null;
  if (claims.nbf !== undefined && (typeof claims.nbf !== 'number' || claims.nbf > nowSeconds)) return null;
  if (claims.iss !== ISSUER) return null;
  const audiences = Array.isArray(claims.aud) ? claims.aud : [claims.aud];
  if (!audiences.includes(AUDIENCE)) return null;
  if (typeof claims.sub !== 'string' || typeof claims.jti !== 'string') return null;
  return claims;
}

// "id:secret,id2:secret2" -> Map
function parseClients(text) {
  const clients = new Map();
  for (const pair of String(text || '').split(',')) {
    const at = pair.indexOf(':');
    if (at > 0) clients.set(pair.slice(0, at).trim(), pair.slice(at + 1).trim());
  }
  return clients;
}

// Client credentials from HTTP Basic auth or the request body (RFC 6749 section 2.3.1).
function clientCredentials(req) {
  const header = req.get('authorization') || '';
  if (header.startsWith('Basic ')) {
    const decoded = Buffer.from(header.slice(6), 'base64').toString('utf8');
    const at = decoded.indexOf(':');
    if (at > 0) return { id: decoded.slice(0, at), secret: decoded.slice(at + 1) };
  }
  const body = req.body || {};
  return { id: body.client_id, secret: body.client_secret };
}

function bearer(req) {
  const header = req.get('authorization') || '';
  return header.startsWith('Bearer ') ? header.slice(7).trim() : null;
}

function safeEqual(a, b) {
  const x = Buffer.from(String(a));
  const y = Buffer.from(String(b));
  return x.length === y.length && crypto.timingSafeEqual(x, y);
}

module.exports = { ISSUER, AUDIENCE, sign, verify, parseClients, clientCredentials, bearer, safeEqual };
