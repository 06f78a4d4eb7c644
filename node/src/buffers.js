// Binary values on the wire (docs/PROTOCOL.md, "Buffers"): a message with a top-level
// `buffers` list (a msgpack bin each, or `{"base64": ..}` in JSON) holds buffer markers in
// its value: `{"__snakepit_buffer__": k}` for bytes, plus `dtype` and `shape` for an array.
//
// Decoding puts a Buffer where a bytes marker is (a view on the frame, no copy) and
// `{dtype, shape, data: Buffer}` where an array marker is. Encoding (convert.js) turns a
// Buffer, Uint8Array, ArrayBuffer or DataView into a bytes marker and a buffer.

import { ProtocolError } from './protocol.js';

/** The reserved key of a buffer marker. */
export const MARKER_KEY = '__snakepit_buffer__';

const ITEMSIZE = {
  bool: 1, int8: 1, int16: 2, int32: 4, int64: 8, uint8: 1, uint16: 2, uint32: 4, uint64: 8,
  float16: 2, bfloat16: 2, float32: 4, float64: 8, complex64: 8, complex128: 16,
};

function entry(value, index) {
  if (value instanceof Uint8Array) {
    return Buffer.from(value.buffer, value.byteOffset, value.byteLength);
  }
  if (value !== null && typeof value === 'object' && typeof value.base64 === 'string') {
    return Buffer.from(value.base64, 'base64');
  }
  throw new ProtocolError(`buffer ${index} is neither bytes nor {"base64": ..}`);
}

function resolve(marker, buffers) {
  const target = marker[MARKER_KEY];
  let data;
  if (Number.isInteger(target)) {
    if (target < 0 || target >= buffers.length) {
      throw new ProtocolError(
        `buffer marker ${target} points past the ${buffers.length} buffers of the message`,
      );
    }
    data = buffers[target];
  } else if (target !== null && typeof target === 'object') {
    data = entry(target, -1);
  } else {
    throw new ProtocolError(`a buffer marker points at ${JSON.stringify(target)}`);
  }
  if (!('dtype' in marker) && !('shape' in marker)) return data;
  const { dtype, shape } = marker;
  const itemsize = ITEMSIZE[dtype];
  if (itemsize === undefined) throw new ProtocolError(`a buffer marker names an unknown dtype ${JSON.stringify(dtype)}`);
  if (!Array.isArray(shape) || !shape.every((n) => Number.isInteger(n) && n >= 0)) {
    throw new ProtocolError(`a buffer marker's shape ${JSON.stringify(shape)} is not a list of sizes`);
  }
  const needed = shape.reduce((total, n) => total * n, itemsize);
  if (needed !== data.length) {
    throw new ProtocolError(
      `an array of dtype ${dtype} and shape [${shape}] needs ${needed} bytes, but its buffer holds ${data.length}`,
    );
  }
  return { dtype, shape, data };
}

function isMarker(value) {
  return value !== null && typeof value === 'object' && !Array.isArray(value)
    && !(value instanceof Uint8Array) && Object.prototype.hasOwnProperty.call(value, MARKER_KEY);
}

function decodeMarkers(value, buffers) {
  if (isMarker(value)) return resolve(value, buffers);
  const stack = [value];
  while (stack.length > 0) {
    const item = stack.pop();
    if (item === null || typeof item !== 'object' || item instanceof Uint8Array) continue;
    for (const key of Object.keys(item)) {
      const child = item[key];
      if (isMarker(child)) item[key] = resolve(child, buffers);
      else if (child !== null && typeof child === 'object') stack.push(child);
    }
  }
  return value;
}

/** Takes `buffers` out of a decoded message and puts their data where its markers are. */
export function resolveMessage(message) {
  const entries = message.buffers;
  delete message.buffers;
  if (!Array.isArray(entries)) throw new ProtocolError('a message\'s buffers are not a list');
  const buffers = entries.map(entry);
  for (const field of ['args', 'result', 'data']) {
    if (field in message) message[field] = decodeMarkers(message[field], buffers);
  }
  return message;
}

/** Appends `bytes` to `buffers` in the form the encoding carries; returns its marker. */
export function toMarker(bytes, json, buffers) {
  const data = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  buffers.push(json ? { base64: data.toString('base64') } : data);
  return { [MARKER_KEY]: buffers.length - 1 };
}
