// The worker's link to its host: the socket named by SNAKEPIT_FD, carrying frames.
//
// The link is not stdout, so console.log in a tool never touches it. Incoming bytes are
// split into messages and handed to `onMessage(message, payload)` in order; end-of-file calls `onEnd`; a bad
// frame calls `onError` with the ProtocolError. Writes go out as whole frames; `send`
// returns false when the socket's buffer is full, and `drained()` resolves when it empties.

import net from 'node:net';

import { encodeFrame, FrameReader, DEFAULT_MAX_FRAME, decode } from './protocol.js';

export class Link {
  /** Wraps a duplex stream (a net.Socket); call `start()` to begin reading. */
  constructor(socket, maxFrame = DEFAULT_MAX_FRAME) {
    this.socket = socket;
    this.reader = new FrameReader(maxFrame);
    /** The encoding of everything sent after the handshake. */
    this.encoding = 'json';
    this.closed = false;
    this.onMessage = () => {};
    this.onEnd = () => {};
    this.onError = () => {};
    this._drainWaiters = [];
    socket.on('drain', () => {
      const waiters = this._drainWaiters;
      this._drainWaiters = [];
      for (const wake of waiters) wake();
    });
  }

  /** The link the host prepared: the socket on the fd named by SNAKEPIT_FD. */
  static fromEnvironment(env = process.env, maxFrame = DEFAULT_MAX_FRAME) {
    const raw = env.SNAKEPIT_FD;
    if (!raw || !/^\d+$/.test(raw)) {
      throw new Error('SNAKEPIT_FD is not set: a snakepit worker is started by a snakepit host');
    }
    const socket = new net.Socket({ fd: Number(raw), readable: true, writable: true });
    return new Link(socket, maxFrame);
  }

  /** Starts reading frames. */
  start() {
    const socket = this.socket;
    socket.on('data', (chunk) => this._receive(chunk));
    socket.on('end', () => this._end());
    socket.on('close', () => this._end());
    socket.on('error', (error) => {
      if (error.code === 'ECONNRESET' || error.code === 'EPIPE') this._end();
      else this._fail(error);
    });
  }

  _receive(chunk) {
    if (this.closed) return;
    const reader = this.reader;
    reader.push(chunk);
    try {
      for (let payload = reader.next(); payload !== null; payload = reader.next()) {
        const message = decode(payload);
        this.onMessage(message, payload);
        if (this.closed) return;
      }
    } catch (error) {
      this._fail(error);
    }
  }

  _end() {
    if (this.closed) return;
    this.closed = true;
    if (this.reader.buffered() > 0) {
      try {
        this.reader.end();
      } catch (error) {
        this.onError(error);
        return;
      }
    }
    this.onEnd();
  }

  _fail(error) {
    if (this.closed) return;
    this.closed = true;
    this.onError(error);
  }

  /** Writes an already framed message; false when the buffer is full. */
  writeFrame(framed) {
    if (this.closed) return true;
    return this.socket.write(framed);
  }

  /** Encodes and writes one message (in the negotiated encoding unless one is given). */
  send(message, encoding = this.encoding) {
    return this.writeFrame(encodeFrame(message, encoding));
  }

  /** Resolves when the socket's write buffer has room again (at once if it has). */
  drained() {
    if (this.closed || !this.socket.writableNeedDrain) return Promise.resolve();
    return new Promise((resolve) => this._drainWaiters.push(resolve));
  }

  /** Closes the link. */
  close() {
    this.closed = true;
    this.socket.destroy();
  }
}
