// A host for tests: spawns a real bridge process with its link on fd 3 (a socketpair) and
// speaks frames to it.

import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

import { encodeFrame, FrameReader, decode, loadMsgpack } from '../../src/protocol.js';

await loadMsgpack();

export const MAIN = fileURLToPath(new URL('../../src/main.js', import.meta.url));
export const SUPPORT = fileURLToPath(new URL('.', import.meta.url));

/** A bridge process and its link, seen from the host's side. */
export class Worker {
  constructor(child) {
    this.child = child;
    this.link = child.stdio[3];
    this.reader = new FrameReader(0xffffffff);
    this.inbox = [];
    this.waiters = [];
    this.stdout = '';
    this.stderr = '';
    this.exited = new Promise((resolve) => child.on('exit', (code, signal) => resolve({ code, signal })));
    child.stdout.on('data', (data) => { this.stdout += data; });
    child.stderr.on('data', (data) => { this.stderr += data; });
    this.link.on('data', (chunk) => {
      this.reader.push(chunk);
      for (let payload = this.reader.next(); payload !== null; payload = this.reader.next()) {
        this.inbox.push(decode(payload));
      }
      this.wake();
    });
    this.link.on('error', () => {});
  }

  wake() {
    const waiters = this.waiters;
    this.waiters = [];
    for (const wake of waiters) wake();
  }

  /** Starts `node main.js --adapter spec` with extra environment. */
  static start(spec, env = {}) {
    const child = spawn(process.execPath, [MAIN, '--adapter', spec], {
      stdio: ['ignore', 'pipe', 'pipe', 'pipe'],
      env: { ...process.env, SNAKEPIT_FD: '3', ...env },
    });
    return new Worker(child);
  }

  /** Starts a worker and completes the handshake; resolves with [worker, hello]. */
  static async ready(spec, { encoding = 'json', env = {} } = {}) {
    const worker = Worker.start(spec, env);
    const hello = await worker.next((message) => message.kind === 'hello');
    worker.send({ kind: 'welcome', protocol: 1, encoding, worker_id: 'w1', max_frame: 67108864 });
    worker.encoding = encoding;
    return [worker, hello];
  }

  send(message, encoding = this.encoding ?? 'json') {
    this.link.write(encodeFrame(message, encoding));
  }

  writeRaw(bytes) {
    this.link.write(bytes);
  }

  /** Resolves with the first unread message matching `predicate` (5 s limit). */
  next(predicate = () => true, limitMs = 5000) {
    return new Promise((resolve, reject) => {
      let expired = false;
      const timer = setTimeout(() => {
        expired = true;
        reject(new Error(`no matching message within ${limitMs} ms; stderr: ${this.stderr}`));
      }, limitMs);
      const look = () => {
        if (expired) return;
        const index = this.inbox.findIndex(predicate);
        if (index >= 0) {
          clearTimeout(timer);
          resolve(this.inbox.splice(index, 1)[0]);
        } else {
          this.waiters.push(look);
        }
      };
      look();
    });
  }

  /** Sends a call and resolves with its result message. */
  async call(id, command, args = {}, extra = {}) {
    this.send({ kind: 'call', id, command, args, ...extra });
    return this.next((message) => message.kind === 'result' && message.id === id);
  }

  close() {
    this.link.end();
    return this.exited;
  }

  kill() {
    this.child.kill('SIGKILL');
    return this.exited;
  }
}

/** The spec of a test adapter in this directory. */
export function supportAdapter(file, name) {
  return `${SUPPORT}${file}:${name}`;
}
