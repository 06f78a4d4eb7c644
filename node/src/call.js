// One running call: its tool invocation, cancellation state and answer.
//
// The AbortController behind `ctx.signal` and the deadline timer are made only when a tool
// asks for the signal, so a plain call costs no timer. A cancel (or the deadline) aborts the
// signal, rejects whatever the call awaits through `race` (a drain, a host call), and turns
// the call's answer into a `Cancelled` error whatever the tool does afterwards. A tool that
// never settles is not answered at all: the host kills the worker after its grace period.

import { Cancelled } from './context.js';
import { errorPayload } from './errors.js';

const GENERATOR_TAGS = new Set(['[object Generator]', '[object AsyncGenerator]']);
/** How long a generator may run before the event loop gets a turn to read the link (ms). */
const TURN_MS = 1;

const yieldToLoop = () => new Promise((resolve) => setImmediate(resolve));

export class Call {
  constructor(message, tool, runtime) {
    this.id = message.id;
    this.command = message.command;
    this.sessionId = message.session_id ?? null;
    this.correlationId = message.correlation_id ?? null;
    this.traceparent = message.traceparent ?? null;
    const timeout = message.timeout_ms;
    this.timeoutMs = timeout === undefined || timeout === null ? null : Number(timeout);
    this.deadline = this.timeoutMs === null ? null : performance.now() + this.timeoutMs;
    this.streaming = message.stream === true;
    this.tool = tool;
    this.runtime = runtime;
    this.ctx = null;
    this.seq = 0;
    this.done = false;
    this._reason = null;
    this._controller = null;
    this._timer = null;
    this._waiters = new Set();
  }

  // Cancellation.

  /** Whether the call was cancelled or passed its deadline. */
  isCancelled() {
    if (this._reason !== null) return true;
    if (this.deadline !== null && performance.now() >= this.deadline) {
      this.abort(new Cancelled('the call passed its deadline'));
      return true;
    }
    return false;
  }

  /** The Cancelled error the call stopped with. */
  reason() {
    return this._reason ?? new Cancelled();
  }

  /** The call's AbortSignal, made on first use. */
  signal() {
    if (this._controller === null) {
      this._controller = new AbortController();
      if (this._reason !== null) {
        this._controller.abort(this._reason);
      } else if (this.deadline !== null && !this.done) {
        const remaining = Math.max(0, this.deadline - performance.now());
        this._timer = setTimeout(() => this.abort(new Cancelled('the call passed its deadline')), remaining);
      }
    }
    return this._controller.signal;
  }

  /** Stops the call with `reason`. */
  abort(reason) {
    if (this._reason !== null || this.done) return;
    this._reason = reason;
    if (this._timer !== null) clearTimeout(this._timer);
    if (this._controller !== null) this._controller.abort(reason);
    for (const wake of this._waiters) wake(reason);
    this._waiters.clear();
  }

  /** `promise`, or a rejection with the cancel reason if the call is cancelled first. */
  race(promise) {
    if (this._reason !== null) {
      promise.catch(() => {});
      return Promise.reject(this._reason);
    }
    return new Promise((resolve, reject) => {
      const waiter = (reason) => reject(reason);
      this._waiters.add(waiter);
      promise.then(
        (value) => {
          this._waiters.delete(waiter);
          resolve(value);
        },
        (error) => {
          this._waiters.delete(waiter);
          reject(error);
        },
      );
    });
  }

  /** Releases the timer; the call is answered. */
  dispose() {
    this.done = true;
    if (this._timer !== null) clearTimeout(this._timer);
    this._waiters.clear();
  }

  // Running.

  /** Invokes the tool and answers when it is done. */
  start(args) {
    let outcome;
    try {
      outcome = this.tool.invoke(args, this.ctx);
    } catch (error) {
      this.fail(error);
      return;
    }
    if (outcome !== null && typeof outcome === 'object') {
      const tag = Object.prototype.toString.call(outcome);
      if (GENERATOR_TAGS.has(tag)) {
        this.settle(this.drive(outcome, tag === '[object AsyncGenerator]'));
        return;
      }
      if (typeof outcome.then === 'function') {
        this.settle(outcome);
        return;
      }
    }
    this.succeed(outcome);
  }

  settle(promise) {
    promise.then((value) => this.succeed(value), (error) => this.fail(error));
  }

  succeed(value) {
    if (this.done) return;
    if (this._reason !== null) {
      this.fail(this._reason);
      return;
    }
    this.runtime.sendResult(this.id, this.command, value === undefined ? null : value);
    this.runtime.finished(this);
  }

  fail(error) {
    if (this.done) return;
    let payload;
    if (this._reason !== null) {
      payload = { type: 'Cancelled', message: this._reason.message, traceback: null };
    } else {
      payload = errorPayload(error);
      if (['InvalidArguments', 'SerializationError', 'DepthLimitExceeded'].includes(payload.type)) {
        payload.traceback = null;
      }
    }
    this.runtime.sendError(this.id, payload);
    this.runtime.finished(this);
  }

  /**
   * Drives a generator: each value becomes a chunk (or, without streaming, an item of the
   * result list). The generator is closed when the call is cancelled or fails.
   */
  async drive(iterator, isAsync) {
    const collected = [];
    let returned;
    let turn = performance.now();
    try {
      for (;;) {
        if (this.isCancelled()) throw this.reason();
        const step = isAsync ? await iterator.next() : iterator.next();
        if (step.done) {
          returned = step.value;
          break;
        }
        if (this.isCancelled()) throw this.reason();
        if (this.streaming) await this.runtime.sendChunk(this, step.value);
        else collected.push(step.value);
        const now = performance.now();
        if (now - turn > TURN_MS) {
          // Let the event loop read the link, so a cancel or a ping gets through.
          await yieldToLoop();
          turn = performance.now();
        }
      }
    } catch (error) {
      try {
        const closing = iterator.return?.();
        if (isAsync) await closing;
      } catch (closeError) {
        process.stderr.write(`snakepit-bridge: a generator threw while being closed: ${closeError}\n`);
      }
      throw error;
    }
    if (this.streaming || returned !== undefined) return returned ?? null;
    return collected;
  }
}
