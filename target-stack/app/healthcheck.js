// Docker HEALTHCHECK: exit 0 when /health answers 200 on this container.
'use strict';
const http = require('http');
const req = http.get({ host: '127.0.0.1', port: Number(process.env.PORT || 8080), path: '/health', timeout: 1500 }, (res) => {
  process.exit(res.statusCode === 200 ? 0 : 1);
});
req.on('timeout', () => { req.destroy(); process.exit(1); });
req.on('error', () => process.exit(1));
