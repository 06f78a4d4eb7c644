// Values a tool returns, streams or passes to a host tool, made into plain wire data.
//
// Every outgoing value is walked once: plain data (null, booleans, finite numbers, strings,
// arrays, plain objects) is kept as is, without a copy. The rest is converted, in this order:
// - Buffer / Uint8Array / ArrayBuffer / DataView: a buffer marker, the bytes an entry of the
//   message's `buffers` (buffers.js); without a buffers list to fill (toWire alone), MessagePack
//   bin, in JSON `{"type": "bytes", "base64"}`; other typed arrays: a list of numbers;
// - Date: its ISO text; Map: an object with string keys; Set: a list;
// - BigInt: kept when it fits 64 bits (written exactly by both encodings);
// - `undefined`: dropped from objects, null in lists (as JSON.stringify does);
// - an Error: `{"type", "message"}`; an object with `toJSON()`: what that returns;
// - class instances: their own enumerable data properties, like JSON.stringify.
// Nothing is silently replaced: a value no rule converts (a function, a symbol, a promise,
// NaN or an infinity in JSON, a BigInt beyond 64 bits, an invalid Date) throws
// SerializationError naming its type, which fails the call.
// A value nested deeper than MAX_DEPTH levels (or holding a cycle) throws DepthLimitExceeded,
// which fails the call with that error (docs/PROTOCOL.md, "Depth limit"); it is never cut.
// Depth counts lists and maps only: `1` is 0 deep, `[]` and `{}` 1, `[[1]]` 2.

import { toMarker } from './buffers.js';
import { encodeFrame } from './protocol.js';

/** How deep a value may be nested; deeper values fail the call (PROTOCOL.md). */
export const MAX_DEPTH = 512;

const REPR_LIMIT = 200;
const I64_MIN = -(2n ** 63n);
const U64_END = 2n ** 64n;

/** A value nests deeper than MAX_DEPTH levels of lists and maps. */
export class DepthLimitExceeded extends Error {
  constructor(message) {
    super(message);
    this.name = 'DepthLimitExceeded';
  }
}

/** A value cannot be sent to the host, even after conversion (or it is too large). */
export class SerializationError extends Error {
  constructor(message) {
    super(message);
    this.name = 'SerializationError';
  }
}

/** The error for a value no conversion applies to, naming its type and quoting it. */
function unconvertible(value, json, what) {
  let text;
  try {
    text = typeof value === 'symbol' ? value.toString() : String(value);
  } catch (error) {
    text = `<String() failed: ${error?.name ?? 'Error'}>`;
  }
  if (text.length > REPR_LIMIT) text = `${text.slice(0, REPR_LIMIT - 3)}...`;
  const type = typeof value === 'object' || typeof value === 'function'
    ? (value?.constructor?.name ?? typeof value)
    : typeof value;
  return new SerializationError(
    `${what} holds a ${type} (${text}), which ${json ? 'JSON' : 'MessagePack'} cannot carry`,
  );
}

/**
 * Returns `value` as plain data `encoding` can carry. `what` names the value in the error
 * thrown when it is nested deeper than MAX_DEPTH.
 */
export function toWire(value, encoding, what = 'the value', buffers = undefined) {
  return convert(value, encoding === 'json', 0, what, buffers);
}

function convert(value, json, depth, what, buffers) {
  switch (typeof value) {
    case 'string':
    case 'boolean':
      return value;
    case 'number':
      if (json && !Number.isFinite(value)) throw unconvertible(value, json, what);
      return value;
    case 'undefined':
      return null;
    case 'bigint':
      if (value >= I64_MIN && value < U64_END) return value;
      throw unconvertible(value, json, what);
    case 'object':
      break;
    default:
      throw unconvertible(value, json, what);
  }
  if (value === null) return null;
  if (depth >= MAX_DEPTH) {
    throw new DepthLimitExceeded(
      `${what} nests deeper than the limit of ${MAX_DEPTH} levels (or holds a cycle)`,
    );
  }
  const next = depth + 1;
  if (Array.isArray(value)) {
    let out = value;
    for (let index = 0; index < value.length; index += 1) {
      const item = value[index];
      const converted = convert(item, json, next, what, buffers);
      if (converted !== item) {
        if (out === value) out = value.slice();
        out[index] = converted;
      }
    }
    return out;
  }
  const proto = Object.getPrototypeOf(value);
  if (proto !== Object.prototype && proto !== null) return special(value, json, next, what, buffers);
  let out = value;
  for (const key in value) {
    if (!Object.prototype.hasOwnProperty.call(value, key)) continue;
    const item = value[key];
    const converted = item === undefined ? undefined : convert(item, json, next, what, buffers);
    if (converted !== item || item === undefined) {
      if (out === value) out = { ...value };
      if (converted === undefined) delete out[key];
      else out[key] = converted;
    }
  }
  return out;
}

function special(value, json, depth, what, buffers) {
  if (value instanceof Uint8Array || value instanceof ArrayBuffer || value instanceof DataView) {
    const bytes = value instanceof Uint8Array
      ? value
      : value instanceof ArrayBuffer
        ? new Uint8Array(value)
        : new Uint8Array(value.buffer, value.byteOffset, value.byteLength);
    if (buffers !== undefined) return toMarker(bytes, json, buffers);
    if (json) return { type: 'bytes', base64: Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64') };
    return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }
  if (ArrayBuffer.isView(value)) return convert(Array.from(value), json, depth, what, buffers);
  if (value instanceof Date) {
    if (Number.isNaN(value.getTime())) throw unconvertible(value, json, what);
    return value.toISOString();
  }
  if (value instanceof Map) {
    const out = {};
    for (const [key, item] of value) out[String(key)] = convert(item, json, depth, what, buffers);
    return out;
  }
  if (value instanceof Set) return convert(Array.from(value), json, depth, what, buffers);
  if (value instanceof Error) return { type: value.name, message: value.message };
  if (typeof value.then === 'function') throw unconvertible(value, json, what);
  if (typeof value.toJSON === 'function') {
    return convert(value.toJSON(), json, depth, what, buffers);
  }
  if (value instanceof Boolean || value instanceof Number || value instanceof String) {
    return convert(value.valueOf(), json, depth, what, buffers);
  }
  const out = {};
  for (const key of Object.keys(value)) {
    const item = value[key];
    if (item === undefined || typeof item === 'function') continue;
    out[key] = convert(item, json, depth, what, buffers);
  }
  return out;
}

/** Whether a decoded value is nested deeper than MAX_DEPTH levels. */
export function tooDeep(value, depth = 0) {
  if (value === null || typeof value !== 'object') return false;
  if (depth >= MAX_DEPTH) return true;
  if (Array.isArray(value)) {
    for (const item of value) if (tooDeep(item, depth + 1)) return true;
    return false;
  }
  if (value instanceof Uint8Array) return false;
  for (const key in value) if (tooDeep(value[key], depth + 1)) return true;
  return false;
}

/**
 * Encodes and frames `message` after converting `message[field]` with toWire. Throws
 * DepthLimitExceeded when the value is too deep, SerializationError when it cannot be
 * encoded or is over `maxFrame`.
 */
export function encodeLenient(message, field, encoding, maxFrame, what) {
  const buffers = [];
  message[field] = toWire(message[field], encoding, what, buffers);
  if (buffers.length > 0) message.buffers = buffers;
  let framed;
  try {
    framed = encodeFrame(message, encoding);
  } catch (error) {
    throw new SerializationError(`${what} cannot be encoded as ${encoding}: ${error.name}: ${error.message}`);
  }
  if (framed.length - 4 > maxFrame) {
    throw new SerializationError(
      `${what} is ${framed.length - 4} bytes, over the maximum frame size of ${maxFrame} bytes`,
    );
  }
  return framed;
}
