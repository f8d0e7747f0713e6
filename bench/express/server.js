// The token route as the production security guide's readers write it:
// Express 5, helmet for the guide's headers, cors with an origin allowlist,
// express-rate-limit per IP on /api/, a size-limited JSON body parser, a
// request id, one JSON log line per request, and a server-side call to
// OpenAI's client_secrets endpoint (here the benchmark's fake upstream)
// with Node's built-in fetch. Loopback only.
//
// Environment: PORT, OPENAI_BASE_URL, OPENAI_API_KEY, ALLOWED_ORIGINS,
// RATE_LIMIT_MAX_REQUESTS, RATE_LIMIT_WINDOW_MS.
'use strict';

const crypto = require('node:crypto');
const express = require('express');
const helmet = require('helmet');
const cors = require('cors');
const { rateLimit } = require('express-rate-limit');

const port = Number(process.env.PORT || 3000);
const baseURL = process.env.OPENAI_BASE_URL || 'https://api.openai.com/v1';
const apiKey = process.env.OPENAI_API_KEY;
const allowedOrigins = (process.env.ALLOWED_ORIGINS || '').split(',').filter(Boolean);
const windowMs = Number(process.env.RATE_LIMIT_WINDOW_MS || 60000);
const limit = Number(process.env.RATE_LIMIT_MAX_REQUESTS || 10);

const app = express();
app.disable('x-powered-by');

app.use((req, res, next) => {
  const id = req.get('x-request-id');
  req.id = id && /^[A-Za-z0-9._-]{1,128}$/.test(id) ? id : crypto.randomUUID();
  res.set('X-Request-ID', req.id);
  const start = process.hrtime.bigint();
  res.on('finish', () => {
    console.log(JSON.stringify({
      time: new Date().toISOString(), level: 'INFO', msg: 'request', method: req.method, path: req.originalUrl.split('?')[0],
      status: res.statusCode, duration_ms: Number(process.hrtime.bigint() - start) / 1e6, client_ip: req.ip, request_id: req.id,
    }));
  });
  next();
});

app.use(helmet({
  contentSecurityPolicy: { useDefaults: false, directives: { defaultSrc: ["'self'"] } },
  strictTransportSecurity: { maxAge: 31536000, includeSubDomains: false },
  frameguard: { action: 'deny' },
  xXssProtection: false,
  referrerPolicy: { policy: 'strict-origin-when-cross-origin' },
}));
app.use((req, res, next) => {
  res.set('X-XSS-Protection', '1; mode=block');
  res.set('Permissions-Policy', 'microphone=(self)');
  next();
});

app.use(cors({
  origin: (origin, cb) => cb(null, !origin || allowedOrigins.includes(origin)),
  methods: ['GET', 'POST', 'OPTIONS'],
  credentials: true,
  maxAge: 86400,
}));

app.use('/api/', rateLimit({
  windowMs,
  limit,
  standardHeaders: 'draft-6',
  legacyHeaders: false,
  handler: (req, res) => res.status(429).json({
    error: { code: 'rate_limited', message: 'Too many requests. Please retry later.', request_id: req.id },
  }),
}));

app.use(express.json({ limit: '16kb' }));

async function mint(req, res) {
  if (req.method === 'POST' && req.headers['content-length'] && !req.is('application/json')) {
    return res.status(415).json({ error: { code: 'unsupported_media_type', message: 'Unsupported content type.', request_id: req.id } });
  }
  const voice = (req.body && req.body.voice) || 'marin';
  try {
    const r = await fetch(`${baseURL}/realtime/client_secrets`, {
      method: 'POST',
      headers: { Authorization: `Bearer ${apiKey}`, 'Content-Type': 'application/json' },
      body: JSON.stringify({
        expires_after: { anchor: 'created_at', seconds: 60 },
        session: { type: 'realtime', model: 'gpt-realtime', audio: { output: { voice } } },
      }),
    });
    if (!r.ok) throw new Error(`upstream ${r.status}`);
    const data = await r.json();
    res.set('Cache-Control', 'no-store');
    res.json(data);
  } catch (err) {
    console.error(JSON.stringify({ level: 'ERROR', msg: 'mint failed', request_id: req.id, err: String(err) }));
    res.status(502).json({ error: { code: 'upstream_error', message: 'The upstream service failed.', request_id: req.id } });
  }
}
app.get('/api/realtime-session', mint);
app.post('/api/realtime-session', mint);

app.listen(port, '127.0.0.1', () => console.error(`listening on 127.0.0.1:${port}`));
