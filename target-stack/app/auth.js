// OAuth2 client-credentials grant issuing HS256 JWTs (through jose), with sessions kept in Redis so
// that a token can be revoked and expires with its session.
'use strict';
const crypto = require('crypto');

// Tokens are signed and verified by jose (Debian's node-jose, panva/jose 4): HS256 only,
// typ JWT, issuer and audience ours, exp required and nbf honoured, no clock tolerance.
const { SignJWT, jwtVerify } = require('jose');

// Every token names who issued it and for whom; verify() refuses any other.
const ISSUER = 'devsim-app';
const AUDIENCE = 'devsim-api';
const VERIFY = { algorithms: ['HS256'], issuer: ISSUER, audience: AUDIENCE, typ: 'JWT' };
// A compact JWT whose three parts are base64url without padding, and nothing else. jose
// decodes with Node's decoder, which skips characters outside the alphabet: without this
// check a signature with junk after it (`...sig!!`, `...sig=`) decodes to the same bytes and
// is accepted (measured with jose 4.11.4).
const COMPACT = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/;

function signingKey(secret) {
  return crypto.createSecretKey(Buffer.from(secret, 'utf8'));
}

// claims: sub, jti, iat, nbf, exp (seconds).
async function sign(claims, key) {
  const { iat, nbf, exp, ...rest } = claims;
  return new SignJWT(rest).setProtectedHeader({ alg: 'HS256', typ: 'JWT' }).setIssuer(ISSUER)
    .setAudience(AUDIENCE).setIssuedAt(iat).setNotBefore(nbf).setExpirationTime(exp).sign(key);
}

function canonical(part) {
  return Buffer.from(part, 'base64url').toString('base64url') === part;
}

// The claims of a token that is well formed, signed with HS256 by `key`, issued by us for
// us, already valid (nbf) and not yet expired (exp); null otherwise.
async function verify(token, key, nowSeconds) {
  const text = String(token || '');
  if (!COMPACT.test(text) || !text.split('.').every(canonical)) return null;
  try {
    const { payload } = await jwtVerify(text, key, { ...VERIFY, currentDate: new Date(nowSeconds * 1000) });
    // jose 4.11 checks exp only when present (its requiredClaims option came later).
    const complete = typeof payload.exp === 'number' && typeof payload.sub === 'string' && typeof payload.jti === 'string';
    return complete ? payload : null;
  } catch (err) {
    return null;
  }
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

module.exports = { ISSUER, AUDIENCE, signingKey, sign, verify, parseClients, clientCredentials, bearer, safeEqual };
