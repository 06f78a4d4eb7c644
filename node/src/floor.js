#!/usr/bin/env node
// The benchmark floor: the cheapest Node worker that still speaks the frame format.
//
// It reads frames from the socket named by SNAKEPIT_FD and answers every message with
// `{"kind": "result", "id", "success": true, "result": <args>}` in the encoding the message
// arrived in. A message whose `command` is `chunks` first gets `args.n` chunk frames. No
// handshake, no adapter, no dispatch: the host measures the Node bridge against it. It exits
// at end-of-file.

import { Link } from './link.js';
import { detectEncoding, encodeFrame, loadMsgpack, maxFrameFromEnv } from './protocol.js';

await loadMsgpack();
const link = Link.fromEnvironment(process.env, maxFrameFromEnv());
link.onMessage = (message, payload) => {
  const encoding = detectEncoding(payload);
  if (message.command === 'chunks') {
    const count = Number(message.args?.n ?? 0);
    for (let seq = 0; seq < count; seq += 1) {
      link.send({ kind: 'chunk', id: message.id, seq, data: { i: seq } }, encoding);
    }
  }
  link.writeFrame(encodeFrame({ kind: 'result', id: message.id, success: true, result: message.args }, encoding));
};
link.onEnd = () => process.exit(0);
link.onError = (error) => {
  process.stderr.write(`snakepit-bridge floor: protocol error: ${error.message}\n`);
  process.exit(1);
};
link.start();
