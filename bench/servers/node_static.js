// Node `http` static-file server for `make bench-web`: what a small Node app does without a
// framework: fs.stat, then the file through fs.createReadStream piped to the response
// (Content-Type, Content-Length, Last-Modified; keep-alive is Node's default).
// usage: node bench/servers/node_static.js PORT ROOT   (prints "ready PORT")
'use strict';
const fs = require('fs');
const http = require('http');
const path = require('path');

const port = Number(process.argv[2] || 0);
const root = path.resolve(process.argv[3] || '.');
const types = { '.html': 'text/html; charset=utf-8', '.js': 'text/javascript', '.css': 'text/css' };

const server = http.createServer((req, res) => {
  const name = decodeURIComponent(new URL(req.url, 'http://x').pathname);
  const file = path.join(root, name.endsWith('/') ? name + 'index.html' : name);
  if (!file.startsWith(root + path.sep) || (req.method !== 'GET' && req.method !== 'HEAD')) {
    res.writeHead(404).end();
    return;
  }
  fs.stat(file, (err, st) => {
    if (err || !st.isFile()) {
      res.writeHead(404).end();
      return;
    }
    res.writeHead(200, {
      'Content-Type': types[path.extname(file)] || 'application/octet-stream',
      'Content-Length': st.size,
      'Last-Modified': st.mtime.toUTCString(),
    });
    if (req.method === 'HEAD') res.end();
    else fs.createReadStream(file).pipe(res);
  });
});
server.keepAliveTimeout = 60000;
server.listen(port, '127.0.0.1', () => console.log(`ready ${server.address().port}`));
setTimeout(() => process.exit(0), Number(process.env.BENCH_SERVER_MAX_SECONDS || 900) * 1000).unref();
