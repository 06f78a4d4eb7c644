// The wire format, checked against the shared example frames in protocol/examples/.

import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

import {
  FrameReader, KNOWN_KINDS, ProtocolError, decode, detectEncoding, encode, encodeFrame, hasMsgpack,
  loadMsgpack, messageKind, readAll,
} from '../src/protocol.js';
import { parseJson, stringifyJson } from '../src/json.js';

await loadMsgpack();

const EXAMPLES = fileURLToPath(new URL('../../protocol/examples/', import.meta.url));
const VALID = readdirSync(`${EXAMPLES}valid`).filter((name) => name.endsWith('.json')).sort();
const INVALID = readdirSync(`${EXAMPLES}invalid`).filter((name) => name.endsWith('.hex')).sort();

/** The longest known kind the file name starts with (`host_call_x` → host_call). */
function kindFromFileName(name) {
  const stem = name.replace(/\.json$/, '');
  const candidates = KNOWN_KINDS.filter((kind) => stem === kind || stem.startsWith(`${kind}_`));
  assert.ok(candidates.length > 0, `${name} does not start with a known kind`);
  return candidates.sort((a, b) => b.length - a.length)[0];
}

test('the examples exist and msgpack is installed for development', () => {
  assert.ok(VALID.length >= 10);
  assert.ok(INVALID.length >= 5);
  assert.ok(hasMsgpack(), 'npm install brings @msgpack/msgpack for the tests');
});

for (const name of VALID) {
  test(`valid example ${name} decodes, classifies and round-trips in both encodings`, () => {
    const raw = readFileSync(`${EXAMPLES}valid/${name}`);
    const text = raw.toString('utf8').trim();
    const message = decode(Buffer.from(text));
    assert.equal(detectEncoding(Buffer.from(text)), 'json');
    assert.equal(messageKind(message), kindFromFileName(name));
    for (const encoding of ['json', 'msgpack']) {
      const payload = encode(message, encoding);
      assert.equal(detectEncoding(payload), encoding);
      assert.deepEqual(decode(payload), message);
      assert.deepEqual(readAll(encodeFrame(message, encoding)), [message]);
    }
  });
}

for (const name of INVALID) {
  test(`invalid example ${name} is rejected without waiting for more`, () => {
    const hex = readFileSync(`${EXAMPLES}invalid/${name}`, 'utf8').replace(/\s+/g, '');
    assert.throws(() => readAll(Buffer.from(hex, 'hex')), ProtocolError);
  });
}

test('a u64 id survives JSON exactly, and small numbers stay numbers', () => {
  const message = parseJson('{"id": 18446744073709551615, "n": 1.5, "k": 7, "s": "1234567890123456789"}');
  assert.equal(message.id, 18446744073709551615n);
  assert.equal(message.k, 7);
  assert.equal(message.s, '1234567890123456789');
  assert.equal(stringifyJson(message), '{"id":18446744073709551615,"n":1.5,"k":7,"s":"1234567890123456789"}');
});

test('the lossless JSON parser rejects what JSON.parse rejects', () => {
  for (const bad of ['{"id": 12345678901234567,}', '{"a": 12345678901234567 "b"}', '[1234567890123456789', '{"a":"\u0001"} 1234567890123456789']) {
    assert.throws(() => parseJson(bad), SyntaxError, bad);
  }
});

test('a frame split across reads is put back together, and several in one read are split', () => {
  const frames = Buffer.concat([encodeFrame({ kind: 'ping', id: 1 }), encodeFrame({ kind: 'ping', id: 2 }, 'msgpack')]);
  assert.deepEqual(readAll(frames).map((message) => message.id), [1, 2]);
  const reader = new FrameReader();
  const seen = [];
  for (const byte of frames) {
    reader.push(Buffer.from([byte]));
    for (let payload = reader.next(); payload !== null; payload = reader.next()) seen.push(decode(payload).id);
  }
  assert.deepEqual(seen, [1, 2]);
  assert.equal(reader.buffered(), 0);
});

test('buffer markers decode to Buffers and arrays; bytes encode as markers with buffers', async () => {
  const { encodeLenient } = await import('../src/convert.js');
  for (const encoding of ['json', 'msgpack']) {
    const eight = Buffer.from([0, 0, 0, 0, 0, 0, 0xf0, 0x3f]);
    const entry = encoding === 'json' ? { base64: eight.toString('base64') } : eight;
    const call = decode(encode({
      kind: 'call',
      args: { raw: { __snakepit_buffer__: 0 }, array: [{ __snakepit_buffer__: 0, dtype: 'float64', shape: [1] }] },
      buffers: [entry],
    }, encoding));
    assert.equal(call.buffers, undefined);
    assert.deepEqual(call.args.raw, eight);
    assert.equal(call.args.array[0].data.readDoubleLE(0), 1);
    assert.deepEqual(call.args.array[0].shape, [1]);
    const framed = encodeLenient(
      { kind: 'result', id: 1, success: true, result: { a: Buffer.from('hi'), b: [new Uint8Array([1, 2])] } },
      'result', encoding, 1 << 26, 'the result',
    );
    const result = decode(framed.subarray(4));
    assert.deepEqual(result.result, { a: Buffer.from('hi'), b: [Buffer.from([1, 2])] });
    assert.throws(
      () => decode(encode({ kind: 'call', args: { __snakepit_buffer__: 3 }, buffers: [entry] }, encoding)),
      /points past the 1 buffers/,
    );
    assert.throws(
      () => decode(encode({ kind: 'call', args: { __snakepit_buffer__: 0, dtype: 'int32', shape: [1] }, buffers: [entry] }, encoding)),
      /needs 4 bytes, but its buffer holds 8/,
    );
  }
});
