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

function sign(claims, secret) {
  const head = b64url(JSON.stringify({ alg: 'HS256', typ: 'JWT' }));
  const body = b64url(JSON.stringify(claims));
  const mac = b64url(crypto.createHmac('sha256', secret).update(`${head}.${body}`).digest());
  return `${head}.${body}.${mac}`;
}

// Returns the claims of a well-signed, unexpired token, or null.
function verify(token, secret, nowSeconds) {
  const parts = String(token || '').split('.');
  if (parts.length !== 3) return null;
  const [head, body, mac] = parts;
  let header;
  let claims;
  try {
    header = JSON.parse(fromB64url(head).toString('utf8'));
    claims = JSON.parse(fromB64url(body).toString('utf8'));
  } catch (err) {
    return null;
  }
  if (!header || header.alg !== 'HS256') return null;
  const expected = crypto.createHmac('sha256', secret).update(`${head}.${body}`).digest();
  const given = fromB64url(mac);
  if (given.length !== expected.length || !crypto.timingSafeEqual(given, expected)) return null;
  if (typeof claims.exp !== 'number' || claims.exp <= nowSeconds) return null;
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

module.exports = { sign, verify, parseClients, clientCredentials, bearer, safeEqual };
