// The worker runtime: handshake, then serving messages until the host goes away.
//
// 1. `hello` (JSON) announces the tools, encodings and capacity; the host's `welcome`
//    names the encoding used from then on.
// 2. `call` runs a tool (up to `capacity` at once, the rest wait in order); `cancel` aborts
//    a call's signal; `ping` is answered with `pong` at once (the event loop stays free
//    while tools await); `host_result` settles the host call with the same `ref`;
//    `session_drop` forgets a session's state; `shutdown` or end-of-file ends the process.
//
// A sync tool's result goes out in the same turn of the event loop that read the call.
// Generators are driven here: each value is a chunk (or, without `"stream": true`, an item
// of the result list), the link's backpressure is awaited, and a cancel closes the generator.
// Every failure of a call becomes an error result `{type, message, traceback}`.

import { Call } from './call.js';
import { CallContext, Cancelled, HostToolError } from './context.js';
import { InvalidArguments } from './adapter.js';
import { DepthLimitExceeded, encodeLenient, SerializationError, tooDeep, MAX_DEPTH } from './convert.js';
import { availableEncodings, messageKind } from './protocol.js';
import { errorPayload } from './errors.js';

/** The names the host accepts for events (docs/telemetry.md). */
const EVENT_NAME = /^[a-z][a-z0-9_]*(\.[a-z0-9_]+)*$/;

export const PROTOCOL_VERSION = 1;
const QUIET_KINDS = new Set(['welcome']);

/** The encodings to offer: those available, narrowed by SNAKEPIT_ENCODINGS. */
export function offeredEncodings(env = process.env) {
  const available = availableEncodings();
  const raw = (env.SNAKEPIT_ENCODINGS ?? '').trim();
  if (!raw) return available;
  const offered = raw.split(',').map((name) => name.trim()).filter((name) => available.includes(name));
  return offered.length > 0 ? offered : ['json'];
}

/** How many calls run at once: SNAKEPIT_CAPACITY, else the adapter's `capacity`, else 1. */
export function capacityFromEnv(env = process.env, fallback = 1) {
  const raw = env.SNAKEPIT_CAPACITY;
  const value = raw && /^\d+$/.test(raw) ? Number(raw) : Number(fallback);
  if (!Number.isInteger(value) || value < 1) return 1;
  return Math.min(value, 1_000_000);
}

function log(text) {
  process.stderr.write(`snakepit-bridge: ${text}\n`);
}

/** One worker: an adapter's tools served over a link. */
export class Runtime {
  constructor({
    adapterName, tools, link, env = process.env, capacity = 1, exit = (code) => process.exit(code),
  }) {
    this.adapterName = adapterName;
    this.tools = tools;
    this.link = link;
    this.exit = exit;
    this.workerId = env.SNAKEPIT_WORKER_ID ?? null;
    this.encodings = offeredEncodings(env);
    this.capacity = capacityFromEnv(env, capacity);
    this.maxFrame = link.reader.maxFrame;
    /** Per-session state by session id, until `session_drop`. */
    this.sessions = new Map();
    /** Running calls by id. */
    this.calls = new Map();
    /** Calls waiting for a free slot, in arrival order. */
    this.waiting = [];
    this.hostCalls = new Map();
    /** Telemetry events that could not be sent (bad name, unencodable data, link closed). */
    this.droppedEvents = 0;
    this.nextRef = 1;
    this.welcomed = false;
    this.toolList = [...tools.keys()].join(', ') || '(none)';
  }

  /** The `hello` message. */
  hello() {
    return {
      kind: 'hello',
      protocol: PROTOCOL_VERSION,
      pid: process.pid,
      encodings: this.encodings,
      adapter: this.adapterName,
      runtime: `node ${process.versions.node}`,
      capacity: this.capacity,
      tools: [...this.tools.values()].map((entry) => entry.spec),
    };
  }

  /** Sends `hello` and serves the link until it ends. */
  start() {
    const link = this.link;
    link.onMessage = (message) => this.handle(message);
    link.onEnd = () => this.exit(0);
    link.onError = (error) => {
      log(`protocol error on the link, exiting: ${error.message}`);
      this.exit(1);
    };
    link.send(this.hello(), 'json');
    link.start();
  }

  /** Routes one message from the host. */
  handle(message) {
    const kind = message.kind ?? messageKind(message);
    switch (kind) {
      case 'call':
        this.welcomed = true;
        this.enqueue(message);
        break;
      case 'ping':
        this.link.send({ kind: 'pong', id: message.id });
        break;
      case 'cancel':
        this.cancel(message.id);
        break;
      case 'host_result':
        this.settleHostCall(message);
        break;
      case 'session_drop':
        this.sessions.delete(message.session_id);
        break;
      case 'welcome':
        if (!this.welcomed) this.welcome(message);
        break;
      case 'shutdown':
        this.exit(0);
        break;
      default:
        if (!QUIET_KINDS.has(kind)) log(`ignoring message of unknown kind ${JSON.stringify(kind)}`);
    }
  }

  welcome(message) {
    this.welcomed = true;
    let encoding = message.encoding ?? 'json';
    if (!this.encodings.includes(encoding)) {
      log(`host chose encoding ${JSON.stringify(encoding)}, which was not offered; using json`);
      encoding = 'json';
    }
    this.link.encoding = encoding;
    if (this.workerId === null && typeof message.worker_id === 'string') this.workerId = message.worker_id;
    const maxFrame = Number(message.max_frame);
    if (Number.isInteger(maxFrame) && maxFrame > 0 && maxFrame <= 0xffffffff) {
      this.maxFrame = maxFrame;
      this.link.reader.maxFrame = maxFrame;
    }
  }

  /** The state object of a session (a fresh one for calls without a session). */
  sessionState(sessionId) {
    if (sessionId === null || sessionId === undefined) return {};
    let state = this.sessions.get(sessionId);
    if (state === undefined) {
      state = {};
      this.sessions.set(sessionId, state);
    }
    return state;
  }

  // Calls.

  enqueue(message) {
    if (this.calls.size >= this.capacity) {
      this.waiting.push(message);
      return;
    }
    this.run(message);
  }

  run(message) {
    const id = message.id;
    const command = message.command;
    const entry = this.tools.get(command);
    if (entry === undefined) {
      this.sendError(id, {
        type: 'UnknownCommand',
        message: `unknown command ${JSON.stringify(command)}; available tools: ${this.toolList}`,
        traceback: null,
      });
      return;
    }
    let args = message.args;
    if (args === undefined || args === null) args = {};
    if (typeof args !== 'object' || Array.isArray(args)) {
      this.sendError(id, invalid(`tool '${command}' needs its args as a map, got ${Array.isArray(args) ? 'a list' : typeof args}`));
      return;
    }
    if (tooDeep(args)) {
      this.sendError(id, {
        type: 'DepthLimitExceeded',
        message: `the arguments of tool '${command}' nest deeper than the limit of ${MAX_DEPTH} levels`,
        traceback: null,
      });
      return;
    }
    const call = new Call(message, entry, this);
    this.calls.set(id, call);
    call.ctx = new CallContext(call, this);
    call.start(args);
  }

  /** Called by a call once its answer is sent: frees its slot for the next waiting call. */
  finished(call) {
    if (this.calls.get(call.id) === call) this.calls.delete(call.id);
    call.dispose();
    while (this.waiting.length > 0 && this.calls.size < this.capacity) {
      this.run(this.waiting.shift());
    }
  }

  cancel(id) {
    const call = this.calls.get(id);
    if (call !== undefined) {
      call.abort(new Cancelled());
      return;
    }
    const index = this.waiting.findIndex((message) => message.id === id);
    if (index >= 0) {
      this.waiting.splice(index, 1);
      this.sendError(id, { type: 'Cancelled', message: 'the call was cancelled before it started', traceback: null });
    }
  }

  /** Sends a successful result; a result the wire cannot carry fails the call instead. */
  sendResult(id, command, result) {
    let payload;
    try {
      payload = encodeLenient(
        { kind: 'result', id, success: true, result },
        'result',
        this.link.encoding,
        this.maxFrame,
        `the result of tool '${command}'`,
      );
    } catch (error) {
      const known = error instanceof SerializationError || error instanceof DepthLimitExceeded;
      const failure = known ? error : new SerializationError(String(error));
      this.sendError(id, { ...errorPayload(failure), traceback: null });
      return;
    }
    this.link.writeFrame(payload);
  }

  sendError(id, error) {
    const message = { kind: 'result', id, success: false, error };
    try {
      this.link.send(message);
    } catch {
      message.error = { type: String(error.type), message: String(error.message), traceback: null };
      this.link.send(message, 'json');
    }
  }

  /** Writes one chunk of `call`; resolves when the link can take more. */
  async sendChunk(call, data) {
    if (call.isCancelled()) throw call.reason();
    if (!call.streaming) return;
    const seq = call.seq;
    const payload = encodeLenient(
      { kind: 'chunk', id: call.id, seq, data },
      'data',
      this.link.encoding,
      this.maxFrame,
      `chunk ${seq} of call ${call.id}`,
    );
    call.seq += 1;
    if (!this.link.writeFrame(payload)) await call.race(this.link.drained());
  }

  // Telemetry.

  /** Writes one `event` frame for `call`; a failure drops the event and counts it. */
  emitEvent(call, name, measurements, metadata) {
    try {
      if (typeof name !== 'string' || !EVENT_NAME.test(name) || this.link.closed) {
        this.droppedEvents += 1;
        return;
      }
      const message = {
        kind: 'event',
        id: call.id,
        name,
        data: { measurements: measurements ?? {}, metadata: metadata ?? {} },
      };
      if (call.correlationId !== null) message.correlation_id = call.correlationId;
      if (call.traceparent !== null) message.traceparent = call.traceparent;
      const payload = encodeLenient(message, 'data', this.link.encoding, this.maxFrame, `event '${name}'`);
      this.link.writeFrame(payload);
    } catch {
      this.droppedEvents += 1;
    }
  }

  // Host calls.

  callHost(call, tool, args) {
    if (call.isCancelled()) return Promise.reject(call.reason());
    if (this.link.closed) return Promise.reject(new Cancelled('the host went away'));
    const ref = this.nextRef;
    this.nextRef += 1;
    let payload;
    try {
      payload = encodeLenient(
        { kind: 'host_call', id: call.id, ref, tool, args: args ?? {} },
        'args',
        this.link.encoding,
        this.maxFrame,
        `the arguments of host tool '${tool}'`,
      );
    } catch (error) {
      return Promise.reject(error);
    }
    const pending = new Promise((resolve, reject) => {
      this.hostCalls.set(ref, { resolve, reject, tool });
    });
    this.link.writeFrame(payload);
    return call.race(pending).finally(() => this.hostCalls.delete(ref));
  }

  settleHostCall(message) {
    const pending = this.hostCalls.get(message.ref);
    if (pending === undefined) return; // A late answer to an abandoned host call.
    this.hostCalls.delete(message.ref);
    if (message.success && tooDeep(message.result)) {
      pending.reject(new DepthLimitExceeded(
        `the result of host tool '${pending.tool}' nests deeper than the limit of ${MAX_DEPTH} levels`,
      ));
    } else if (message.success) pending.resolve(message.result);
    else pending.reject(HostToolError.fromReply(message.error, pending.tool));
  }
}

function invalid(message) {
  return { type: 'InvalidArguments', message, traceback: null };
}

export { InvalidArguments };
