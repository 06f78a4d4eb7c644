#!/usr/bin/env node
// The bridge's command line: `node main.js --adapter ./file.mjs:Export`.
//
// The adapter may also be named by SNAKEPIT_ADAPTER. The link is the socket named by
// SNAKEPIT_FD, which the snakepit host sets; the process exits when the host goes away.

import { serveSpec } from './serve.js';

const VERSION = '0.1.0';

function usage(text) {
  process.stderr.write(`usage: node main.js --adapter ./file.mjs:Export\nerror: ${text}\n`);
  process.exitCode = 2;
}

async function main(argv) {
  let spec = process.env.SNAKEPIT_ADAPTER;
  for (let index = 0; index < argv.length; index += 1) {
    const arg = argv[index];
    if (arg === '--version') {
      process.stdout.write(`snakepit-bridge ${VERSION}\n`);
      return;
    }
    if (arg === '--adapter') {
      spec = argv[index + 1];
      index += 1;
    } else if (arg.startsWith('--adapter=')) {
      spec = arg.slice('--adapter='.length);
    } else {
      usage(`unknown argument ${arg}`);
      return;
    }
  }
  if (!spec) {
    usage('--adapter ./file.mjs:Export is required');
    return;
  }
  const code = await serveSpec(spec);
  if (code !== null) process.exit(code);
}

await main(process.argv.slice(2));
