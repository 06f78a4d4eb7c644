// A test adapter with faults and probes, used by the Node tests and the Rust integration
// tests (crates/snakepit/tests/it/node.rs).

import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';

import { tool } from '../../src/index.js';

class NotFound extends Error {}

export class FaultAdapter {
  static tools = {
    add: { description: 'Add two numbers.', parameters: { a: 'number', b: { type: 'number', default: 0 } } },
  };

  constructor() {
    this.initialized = false;
  }

  async initialize() {
    this.initialized = true;
  }

  pid() {
    return process.pid;
  }

  add({ a, b }) {
    return a + b;
  }

  echo(args) {
    return args;
  }

  /** Sends a telemetry event, and one with a name the host would refuse. */
  emit_event({ name }, ctx) {
    ctx.emit(name, { items: 3 }, { source: 'test' });
    ctx.emit('Not A Name');
    return ctx.correlationId;
  }

  is_initialized() {
    return this.initialized;
  }

  /** Waits, honouring the signal; writes `started_file` first when given. */
  async sleep({ ms, started_file: startedFile }, ctx) {
    if (startedFile) writeFileSync(startedFile, String(process.pid));
    await ctx.sleep(ms);
    return 'slept';
  }

  /** Waits, ignoring the signal: only a kill stops it. */
  async ignore_abort({ ms }) {
    await new Promise((resolve) => setTimeout(resolve, ms));
    return 'finished anyway';
  }

  /** Blocks the event loop. */
  spin({ ms }) {
    const end = Date.now() + ms;
    while (Date.now() < end) { /* spin */ }
    return 'spun';
  }

  crash({ code = 3, message = 'about to crash' }) {
    process.stderr.write(`${message}\n`);
    process.exit(code);
  }

  crash_later({ code = 4 }) {
    process.stderr.write('crashing soon\n');
    setTimeout(() => process.exit(code), 20);
    return new Promise(() => {});
  }

  throw_typed({ kind }) {
    if (kind === 'range') throw new RangeError('out of range');
    if (kind === 'custom') throw new NotFound('no such thing');
    if (kind === 'string') throw 'a plain string';
    throw new TypeError('bad type');
  }

  noisy({ lines = 100 }) {
    for (let index = 0; index < lines; index += 1) {
      console.log(`stdout line ${index} {"kind":"result","id":1}`);
      process.stdout.write('\u0000\u0000\u0000\u0005hello');
    }
    return lines;
  }

  async host({ name, args = {} }, ctx) {
    return ctx.callHostTool(name, args);
  }

  async host_error({ name, args = {} }, ctx) {
    try {
      await ctx.callHostTool(name, args);
      return null;
    } catch (error) {
      return { type: error.errorType, message: error.hostMessage };
    }
  }

  async variables({ name, value }, ctx) {
    const before = await ctx.getVariable(name);
    await ctx.setVariable(name, value);
    return { before, after: await ctx.getVariable(name) };
  }

  session_count(_args, ctx) {
    ctx.session.count = (ctx.session.count ?? 0) + 1;
    return { session: ctx.sessionId, count: ctx.session.count };
  }

  *count({ n, delay_ms: delayMs = 0 }) {
    for (let index = 0; index < n; index += 1) {
      if (delayMs) this.spin({ ms: delayMs });
      yield { i: index };
    }
    return { total: n };
  }

  async *endless({ delay_ms: delayMs = 5, closed_file: closedFile }, ctx) {
    try {
      for (let index = 0; ; index += 1) {
        await ctx.sleep(delayMs);
        yield { i: index };
      }
    } finally {
      if (closedFile) writeFileSync(closedFile, 'closed');
    }
  }

  async send_count({ n }, ctx) {
    for (let index = 0; index < n; index += 1) await ctx.send({ n: index });
    return { total: n };
  }

  deep({ depth }) {
    let value = 'leaf';
    for (let index = 0; index < depth; index += 1) value = [value];
    return value;
  }

  values() {
    return {
      big: 2n ** 63n,
      date: new Date(0),
      bytes: Buffer.from('hi'),
      map: new Map([[1, 'one']]),
      set: new Set([1, 2]),
      nothing: undefined,
    };
  }

  unserializable() {
    return { value: () => 1 };
  }

  spawn_child({ pid_file: pidFile }) {
    const child = spawn('sleep', ['1000'], { stdio: 'ignore' });
    if (pidFile) writeFileSync(pidFile, String(child.pid));
    return child.pid;
  }

  /** Counts the calls running at once on this worker (as the call starts). */
  async running({ ms }, ctx) {
    this.inFlight = (this.inFlight ?? 0) + 1;
    const atStart = this.inFlight;
    try {
      await ctx.sleep(ms);
    } finally {
      this.inFlight -= 1;
    }
    return { running: atStart, pid: process.pid };
  }

  async concurrent({ ms }, ctx) {
    const started = Date.now();
    await ctx.sleep(ms);
    return { started, ended: Date.now() };
  }
}

/** An adapter that declares its own capacity. */
export class Concurrent extends FaultAdapter {
  static capacity = 2;
}

export const described = {
  greet: tool({ description: 'Say hello.', parameters: [{ name: 'name', type: 'string', required: true }] },
    ({ name }) => `hello ${name}`),
  ping() {
    return 'pong';
  },
};

export default FaultAdapter;
