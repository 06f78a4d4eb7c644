// Outgoing values: plain data untouched, the rest converted, too deep refused.

import assert from 'node:assert/strict';
import { test } from 'node:test';

import {
  DepthLimitExceeded, MAX_DEPTH, SerializationError, encodeLenient, toWire, tooDeep,
} from '../src/convert.js';

function nested(depth) {
  let value = 1;
  for (let index = 0; index < depth; index += 1) value = { v: value };
  return value;
}

test('plain data is returned as the same object', () => {
  const value = { a: [1, 'two', null, true, { b: 2.5 }] };
  assert.equal(toWire(value, 'json'), value);
});

test('values JSON cannot carry are converted', () => {
  const converted = toWire({
    bytes: Buffer.from('hi'),
    date: new Date(0),
    map: new Map([[1, 'one']]),
    set: new Set([3]),
    gone: undefined,
    list: [undefined],
    big: 5n,
    error: new RangeError('x'),
    floats: new Float64Array([1.5]),
  }, 'json');
  assert.deepEqual(converted, {
    bytes: { type: 'bytes', base64: 'aGk=' },
    date: '1970-01-01T00:00:00.000Z',
    map: { 1: 'one' },
    set: [3],
    list: [null],
    big: 5n,
    error: { type: 'RangeError', message: 'x' },
    floats: [1.5],
  });
});

test('msgpack keeps bytes as bytes and NaN as a number', () => {
  const converted = toWire({ bytes: new Uint8Array([1, 2]), nan: Number.NaN }, 'msgpack');
  assert.ok(Buffer.isBuffer(converted.bytes));
  assert.ok(Number.isNaN(converted.nan));
});

test('class instances become their data; what no rule converts fails, naming its type', () => {
  class Point {
    constructor() {
      this.x = 1;
      this.norm = () => 1;
    }
  }
  assert.deepEqual(toWire({ p: new Point() }, 'json'), { p: { x: 1 } });
  for (const [value, type] of [
    [Math.max, 'Function'], [Symbol('s'), 'symbol'], [Promise.resolve(1), 'Promise'],
    [Number.NaN, 'number'], [2n ** 64n, 'bigint'], [new Date(Number.NaN), 'Date'],
  ]) {
    assert.throws(() => toWire({ v: value }, 'json', 'the result'), (error) => {
      assert.ok(error instanceof SerializationError);
      assert.match(error.message, new RegExp(`^the result holds a ${type} `));
      return true;
    });
  }
  assert.ok(Number.isNaN(toWire(Number.NaN, 'msgpack')));
});

test(`${MAX_DEPTH} levels pass, one more fails the value, and so does a cycle`, () => {
  assert.doesNotThrow(() => toWire(nested(MAX_DEPTH), 'json'));
  assert.throws(() => toWire(nested(MAX_DEPTH + 1), 'json'), DepthLimitExceeded);
  const cycle = { name: 'loop' };
  cycle.self = cycle;
  assert.throws(() => toWire(cycle, 'msgpack', 'the result'), /the result nests deeper than the limit of 512 levels/);
  assert.equal(tooDeep(nested(MAX_DEPTH)), false);
  assert.equal(tooDeep(nested(MAX_DEPTH + 1)), true);
});

test('a message over the frame limit is refused', () => {
  assert.throws(
    () => encodeLenient({ kind: 'result', id: 1, result: 'x'.repeat(100) }, 'result', 'json', 64, 'the result'),
    /over the maximum frame size of 64 bytes/,
  );
});
