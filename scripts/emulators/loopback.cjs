// Preloaded (node --require) into the Node emulators so that every server socket they open listens on
// 127.0.0.1 only. fauxqs hard-codes 0.0.0.0 and kinesis-mock listens on every interface; neither has a
// bind-address option, and the tests must not expose them beyond this machine.
'use strict';
const net = require('node:net');

const host = process.env.STREAMLANES_BIND_HOST || '127.0.0.1';
const originalListen = net.Server.prototype.listen;

net.Server.prototype.listen = function listen(...args) {
  const first = args[0];
  if (first !== null && typeof first === 'object' && !Array.isArray(first)) {
    // listen(options[, callback]): a handle or a unix socket path is left alone.
    if (first.path === undefined && first.handle === undefined && first._handle === undefined && first.fd === undefined) {
      args[0] = { ...first, host };
    }
    return originalListen.apply(this, args);
  }
  if (typeof first === 'number' || (typeof first === 'string' && /^\d+$/.test(first))) {
    // listen(port[, host][, backlog][, callback]): keep the callback, replace the host.
    const callback = typeof args[args.length - 1] === 'function' ? args[args.length - 1] : undefined;
    const backlog = args.find((a, i) => i > 0 && typeof a === 'number');
    const options = { port: Number(first), host };
    if (backlog !== undefined) options.backlog = backlog;
    return callback ? originalListen.call(this, options, callback) : originalListen.call(this, options);
  }
  return originalListen.apply(this, args);
};
