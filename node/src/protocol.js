// The snakepit wire protocol: frames, encodings and message kinds (docs/PROTOCOL.md).
//
// This module owns everything about bytes on the link:
// - a frame is a 4-byte big-endian length N then N payload bytes, 1 <= N <= max frame
//   (SNAKEPIT_MAX_FRAME, default 64 MiB);
// - a payload is one map, JSON (first byte `{`) or MessagePack (first byte a map header:
//   0x80-0x8F, 0xDE or 0xDF); a receiver accepts both on every frame;
// - a message's kind is its `kind`, else `call` when it has `command`, else `result` when it
//   has `success` (the classic v0.0.1 envelope).
// Any violation throws ProtocolError; the reader never waits for the rest of a bad frame.
// MessagePack comes from the optional package `@msgpack/msgpack` when it can be loaded.

import * as buffer from 'node:buffer';

import { parseJson, stringifyJson } from './json.js';
import { resolveMessage } from './buffers.js';

/** The frame size limit when SNAKEPIT_MAX_FRAME is not set: 64 MiB. */
export const DEFAULT_MAX_FRAME = 64 * 1024 * 1024;

/** Every message kind PROTOCOL.md names, in both directions. */
export const KNOWN_KINDS = Object.freeze([
  'hello', 'welcome', 'call', 'result', 'chunk', 'host_call', 'host_result',
  'pong', 'ping', 'event', 'cancel', 'session_drop', 'shutdown',
]);

const JSON_FIRST_BYTE = 0x7b;

/** A frame or message broke the wire contract; the link cannot be trusted any more. */
export class ProtocolError extends Error {
  constructor(message) {
    super(message);
    this.name = 'ProtocolError';
  }
}

let msgpack = null;

/**
 * Makes MessagePack available, from `module` (the `@msgpack/msgpack` namespace) or by
 * importing the package; returns whether it is available.
 */
export async function loadMsgpack(module = undefined, fallbacks = []) {
  if (module !== undefined) {
    msgpack = module ? wrapMsgpack(module) : null;
    return msgpack !== null;
  }
  if (msgpack !== null) return true;
  for (const load of [() => import('@msgpack/msgpack'), ...fallbacks]) {
    try {
      const loaded = await load();
      if (loaded && typeof loaded.encode === 'function') {
        msgpack = wrapMsgpack(loaded);
        return true;
      }
    } catch {
      // Not installed here: try the next place, or speak JSON only.
    }
  }
  return false;
}

function wrapMsgpack(module) {
  // The wire allows 512 levels (convert.js checks); the messages around a value add a few.
  const encoder = new module.Encoder({ useBigInt64: true, ignoreUndefined: false, maxDepth: 1024 });
  const decodeOptions = { useBigInt64: true };
  return {
    encode: (value) => encoder.encode(value),
    decode: (bytes) => module.decode(bytes, decodeOptions),
  };
}

/** Whether MessagePack is available. */
export function hasMsgpack() {
  return msgpack !== null;
}

/** The encodings this process can speak, preferred first. */
export function availableEncodings() {
  return msgpack !== null ? ['msgpack', 'json'] : ['json'];
}

/** The frame size limit named by SNAKEPIT_MAX_FRAME, or the 64 MiB default. */
export function maxFrameFromEnv(env = process.env) {
  const raw = env.SNAKEPIT_MAX_FRAME;
  if (!raw || !/^\d+$/.test(raw)) return DEFAULT_MAX_FRAME;
  const value = Number(raw);
  return value > 0 && value <= 0xffffffff ? value : DEFAULT_MAX_FRAME;
}

/**
 * Encodes one message as a payload (no length prefix). Throws a TypeError or RangeError
 * when the value cannot be encoded; callers that encode user data convert it first.
 */
export function encode(message, encoding = 'json') {
  if (encoding === 'json') return Buffer.from(stringifyJson(message), 'utf8');
  if (encoding === 'msgpack') {
    if (msgpack === null) {
      throw new ProtocolError('msgpack encoding requested but @msgpack/msgpack is not installed');
    }
    const bytes = msgpack.encode(message);
    return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }
  throw new ProtocolError(`unknown encoding ${JSON.stringify(encoding)}`);
}

/** Prefixes a payload with its 4-byte big-endian length. */
export function frame(payload) {
  const out = Buffer.allocUnsafe(4 + payload.length);
  out.writeUInt32BE(payload.length, 0);
  out.set(payload, 4);
  return out;
}

/** Encodes one message and frames it (JSON is written once, straight after its prefix). */
export function encodeFrame(message, encoding = 'json') {
  if (encoding !== 'json') return frame(encode(message, encoding));
  const text = stringifyJson(message);
  const length = Buffer.byteLength(text, 'utf8');
  const out = Buffer.allocUnsafe(4 + length);
  out.writeUInt32BE(length, 0);
  out.write(text, 4, 'utf8');
  return out;
}

/** Names the encoding of a payload from its first byte. */
export function detectEncoding(payload) {
  if (payload.length === 0) throw new ProtocolError('empty payload');
  const first = payload[0];
  if (first === JSON_FIRST_BYTE) return 'json';
  if ((first >= 0x80 && first <= 0x8f) || first === 0xde || first === 0xdf) return 'msgpack';
  throw new ProtocolError(
    `payload starts with byte 0x${first.toString(16).padStart(2, '0')}, which is neither JSON nor a map`,
  );
}

const utf8 = new TextDecoder('utf-8', { fatal: true });
// buffer.isUtf8 (Node 18.14+) validates much faster than a fatal TextDecoder.
const isUtf8 = buffer.isUtf8 ?? ((bytes) => {
  try {
    utf8.decode(bytes);
    return true;
  } catch {
    return false;
  }
});

/** Decodes one payload (either encoding) into a message map; throws ProtocolError. */
export function decode(payload) {
  const encoding = detectEncoding(payload);
  let message;
  if (encoding === 'json') {
    if (!isUtf8(payload)) throw new ProtocolError('invalid JSON payload: not UTF-8');
    const text = Buffer.isBuffer(payload)
      ? payload.toString('utf8')
      : Buffer.from(payload.buffer, payload.byteOffset, payload.byteLength).toString('utf8');
    try {
      message = parseJson(text);
    } catch (error) {
      throw new ProtocolError(`invalid JSON payload: ${error.message}`);
    }
  } else {
    if (msgpack === null) {
      throw new ProtocolError('received a msgpack payload but @msgpack/msgpack is not installed');
    }
    try {
      message = msgpack.decode(payload);
    } catch (error) {
      throw new ProtocolError(`invalid msgpack payload: ${error.name}: ${error.message}`);
    }
  }
  if (message === null || typeof message !== 'object' || Array.isArray(message)) {
    throw new ProtocolError(`message is ${Array.isArray(message) ? 'a list' : typeof message}, not a map`);
  }
  if ('buffers' in message) return resolveMessage(message);
  return message;
}

/** Classifies a message: its kind, else `call` or `result` for classic envelopes. */
export function messageKind(message) {
  const kind = message.kind;
  if (kind !== undefined && kind !== null) return typeof kind === 'string' ? kind : null;
  if ('command' in message) return 'call';
  if ('success' in message) return 'result';
  return null;
}

/**
 * Splits a byte stream into frame payloads. `push(chunk)` adds bytes; `next()` returns the
 * next whole payload or null, throwing ProtocolError as soon as a header is invalid.
 */
export class FrameReader {
  constructor(maxFrame = DEFAULT_MAX_FRAME) {
    this.maxFrame = maxFrame;
    this.buffer = Buffer.alloc(0);
    this.offset = 0;
  }

  /** How many unparsed bytes are buffered. */
  buffered() {
    return this.buffer.length - this.offset;
  }

  push(chunk) {
    if (this.offset >= this.buffer.length) {
      this.buffer = chunk;
    } else {
      this.buffer = Buffer.concat([this.buffer.subarray(this.offset), chunk]);
    }
    this.offset = 0;
  }

  next() {
    const available = this.buffer.length - this.offset;
    if (available < 4) return null;
    const length = this.buffer.readUInt32BE(this.offset);
    if (length === 0) throw new ProtocolError('frame has zero length');
    if (length > this.maxFrame) {
      throw new ProtocolError(`frame of ${length} bytes exceeds the maximum of ${this.maxFrame} bytes`);
    }
    if (available < 4 + length) return null;
    const start = this.offset + 4;
    this.offset = start + length;
    return this.buffer.subarray(start, start + length);
  }

  /** Call at end-of-file: throws ProtocolError when a frame was cut short. */
  end() {
    const left = this.buffered();
    if (left > 0) throw new ProtocolError(`end of input inside a frame (${left} bytes buffered)`);
  }
}

/** Reads every message of a complete byte string (for tools and tests). */
export function readAll(bytes, maxFrame = DEFAULT_MAX_FRAME) {
  const reader = new FrameReader(maxFrame);
  reader.push(bytes);
  const messages = [];
  for (let payload = reader.next(); payload !== null; payload = reader.next()) {
    messages.push(decode(payload));
  }
  reader.end();
  return messages;
}
