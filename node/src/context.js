// The per-call context a tool receives as its second argument, and the errors it raises.
//
// `ctx.signal` is an AbortSignal that fires when the host cancels the call or its deadline
// passes; pass it to anything that takes one (fetch, timers/promises, child_process). A
// tool that ignores it still gets stopped: the host kills the worker after the grace period.
// `ctx.session` is an object kept on this worker for the call's session until the host
// drops the session. Host calls (`ctx.callHostTool`) send a `host_call` frame and resolve
// with the host's `host_result` for the same `ref`.

/** The host cancelled the call (or its deadline passed, or the host went away). */
export class Cancelled extends Error {
  constructor(message = 'the call was cancelled by the host') {
    super(message);
    this.name = 'Cancelled';
  }
}

/** A host tool called with `ctx.callHostTool` failed; `errorType` is the host's error type. */
export class HostToolError extends Error {
  constructor(errorType, message, tool = '') {
    super(errorType ? `${errorType}: ${message}` : message);
    this.name = 'HostToolError';
    this.errorType = errorType;
    this.hostMessage = message;
    this.tool = tool;
  }

  /** Builds the error from a `host_result` error (a map, or a plain string). */
  static fromReply(error, tool) {
    if (error !== null && typeof error === 'object') {
      return new HostToolError(String(error.type ?? 'Error'), String(error.message ?? ''), tool);
    }
    return new HostToolError('Error', String(error), tool);
  }
}

function variableValue(variable) {
  return variable !== null && typeof variable === 'object' && 'value' in variable
    ? variable.value
    : variable;
}

/** What a tool may know about, and do within, the call it serves. */
export class CallContext {
  constructor(call, runtime) {
    this._call = call;
    this._runtime = runtime;
    this._session = undefined;
  }

  /** The id the host gave this call. */
  get callId() {
    return this._call.id;
  }

  /** The tool name the host asked for. */
  get command() {
    return this._call.command;
  }

  /** The call's session id, or null. */
  get sessionId() {
    return this._call.sessionId;
  }

  /** The call's correlation id (ties its events, spans and logs together), or null. */
  get correlationId() {
    return this._call.correlationId;
  }

  /**
   * Sends a telemetry event for this call: `name` (lowercase words joined by dots, such as
   * `model.loaded`), numeric `measurements` and free-form `metadata`. Never throws and never
   * waits: an event that cannot be sent is dropped and counted (`droppedEvents`).
   */
  emit(name, measurements = {}, metadata = {}) {
    this._runtime.emitEvent(this._call, name, measurements, metadata);
  }

  /** This worker's id (`w3`), or null. */
  get workerId() {
    return this._runtime.workerId;
  }

  /** The call's timeout in milliseconds, or null without a deadline. */
  get timeoutMs() {
    return this._call.timeoutMs;
  }

  /** Milliseconds left before the deadline (never negative), or null. */
  get remainingMs() {
    const deadline = this._call.deadline;
    return deadline === null ? null : Math.max(0, deadline - performance.now());
  }

  /** Whether the host asked for a stream of chunks. */
  get streaming() {
    return this._call.streaming;
  }

  /** Fires on cancel or deadline; its reason is a Cancelled error. */
  get signal() {
    return this._call.signal();
  }

  /** Whether the call was cancelled (or passed its deadline). */
  get cancelled() {
    return this._call.isCancelled();
  }

  /** Throws Cancelled if the call was cancelled. */
  throwIfCancelled() {
    if (this._call.isCancelled()) throw this._call.reason();
  }

  /** Waits `ms` milliseconds; rejects with Cancelled at once if the call is cancelled. */
  sleep(ms) {
    const signal = this.signal;
    return new Promise((resolve, reject) => {
      if (signal.aborted) {
        reject(signal.reason);
        return;
      }
      const onAbort = () => {
        clearTimeout(timer);
        reject(signal.reason);
      };
      const timer = setTimeout(() => {
        signal.removeEventListener('abort', onAbort);
        resolve();
      }, Math.max(0, ms));
      signal.addEventListener('abort', onAbort, { once: true });
    });
  }

  /** State kept on this worker for the call's session (a fresh object without a session). */
  get session() {
    if (this._session === undefined) this._session = this._runtime.sessionState(this._call.sessionId);
    return this._session;
  }

  /**
   * Sends one chunk (when the host asked for a stream; otherwise the data is dropped).
   * Resolves once the link can take more; rejects with Cancelled if the call was cancelled.
   */
  send(data) {
    return this._runtime.sendChunk(this._call, data);
  }

  /** Calls the host tool `name` with `args`; resolves with its result. */
  callHostTool(name, args = {}) {
    return this._runtime.callHost(this._call, name, args);
  }

  /** The host tools visible to this call. */
  listHostTools() {
    return this.callHostTool('snakepit.list_host_tools');
  }

  /** The value of the session variable `name` (kept by the host). */
  async getVariable(name) {
    return variableValue(await this.callHostTool('snakepit.get_variable', { name }));
  }

  /** Sets the session variable `name`; resolves with the updated variable. */
  setVariable(name, value) {
    return this.callHostTool('snakepit.set_variable', { name, value });
  }

  /** The session's variables, as the host lists them. */
  listVariables() {
    return this.callHostTool('snakepit.list_variables');
  }
}
