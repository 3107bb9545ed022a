// Node `ws` echo server for make bench.
// usage: node bench/servers/ws_echo.js PORT [deflate]   (prints "ready PORT"; needs `ws` on NODE_PATH)
// deflate: perMessageDeflate on with ws's defaults (threshold 1024 bytes, zlib's default
// level, context takeover both ways, concurrencyLimit 10); off otherwise.
// Clients asking for the subprotocol "broadcast" form a group that gets every message any
// of them sends; every other connection is echoed.
'use strict';
const { WebSocketServer } = require('ws');

const port = Number(process.argv[2] || 0);
const deflate = process.argv[3] === 'deflate';
const group = new Set();
const wss = new WebSocketServer({
  host: '127.0.0.1',
  port,
  perMessageDeflate: deflate,
  handleProtocols: (protocols) => (protocols.has('broadcast') ? 'broadcast' : false),
});

wss.on('connection', (ws) => {
  if (ws.protocol === 'broadcast') {
    group.add(ws);
    ws.on('close', () => group.delete(ws));
    ws.on('message', (data, isBinary) => {
      for (const member of group) member.send(data, { binary: isBinary });
    });
  } else {
    ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary }));
  }
  ws.on('error', () => {});
});
wss.on('listening', () => console.log(`ready ${wss.address().port}`));
setTimeout(() => process.exit(0), Number(process.env.BENCH_SERVER_MAX_SECONDS || 900) * 1000).unref();
