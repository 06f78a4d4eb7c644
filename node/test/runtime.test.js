// The runtime end to end: real bridge processes, their link on fd 3, frames from this side.

import assert from 'node:assert/strict';
import { existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { test } from 'node:test';

import { Worker, supportAdapter } from './support/harness.js';

const FAULT = supportAdapter('fault_adapter.js', 'FaultAdapter');
const SHOWCASE = new URL('../src/examples/showcase.js', import.meta.url).pathname + ':ShowcaseAdapter';

const isResult = (id) => (message) => message.kind === 'result' && message.id === id;

test('hello announces the tools, encodings, runtime and capacity, after initialize()', async () => {
  const [worker, hello] = await Worker.ready(FAULT, { env: { SNAKEPIT_CAPACITY: '3' } });
  const [declared, declaredHello] = await Worker.ready(supportAdapter('fault_adapter.js', 'Concurrent'));
  assert.equal(declaredHello.capacity, 2);
  await declared.close();
  assert.equal(hello.protocol, 1);
  assert.equal(hello.pid, worker.child.pid);
  assert.deepEqual(hello.encodings, ['msgpack', 'json']);
  assert.equal(hello.capacity, 3);
  assert.match(hello.runtime, /^node \d+\./);
  assert.ok(hello.tools.some((spec) => spec.name === 'endless' && spec.streaming));
  assert.equal((await worker.call(1, 'is_initialized')).result, true);
  assert.deepEqual(await worker.close(), { code: 0, signal: null });
});

test('SNAKEPIT_ENCODINGS narrows the offer, and a msgpack welcome switches the encoding', async () => {
  const [jsonOnly, hello] = await Worker.ready(FAULT, { env: { SNAKEPIT_ENCODINGS: 'json' } });
  assert.deepEqual(hello.encodings, ['json']);
  await jsonOnly.close();
  const [worker] = await Worker.ready(FAULT, { encoding: 'msgpack' });
  const reply = await worker.call(1, 'echo', { blob: 'x', n: 2 ** 40 });
  assert.deepEqual(reply.result, { blob: 'x', n: 2 ** 40 });
  await worker.close();
});

test('calls answer results and typed errors; the showcase computes', async () => {
  const [worker] = await Worker.ready(SHOWCASE);
  assert.deepEqual((await worker.call(1, 'compute', { operation: 'sqrt', a: 16 })).result, { operation: 'sqrt', a: 16, result: 4 });
  const divide = await worker.call(2, 'compute', { operation: 'divide', a: 1, b: 0 });
  assert.equal(divide.success, false);
  assert.equal(divide.error.type, 'RangeError');
  assert.match(divide.error.traceback, /at ShowcaseAdapter\.compute/);
  assert.doesNotMatch(divide.error.traceback, /runtime\.js|call\.js/);
  const unknown = await worker.call(3, 'nope');
  assert.equal(unknown.error.type, 'UnknownCommand');
  assert.match(unknown.error.message, /compute, echo/);
  const notMap = await worker.call(4, 'echo', [1]);
  assert.equal(notMap.error.type, 'InvalidArguments');
  for (const [type, range] of [['uniform', [0, 100]], ['int', [1, 6]], ['normal', [-1e9, 1e9]]]) {
    const { value } = (await worker.call(5, 'random', { type, min: range[0], max: range[1] })).result;
    assert.ok(value >= range[0] && value <= range[1], `${type}: ${value}`);
  }
  await worker.close();
});

test('thrown values keep their class name, and string throws still fail cleanly', async () => {
  const [worker] = await Worker.ready(FAULT);
  assert.equal((await worker.call(1, 'throw_typed', { kind: 'custom' })).error.type, 'NotFound');
  assert.equal((await worker.call(2, 'throw_typed', { kind: 'range' })).error.type, 'RangeError');
  assert.deepEqual((await worker.call(3, 'throw_typed', { kind: 'string' })).error, { type: 'Error', message: 'a plain string', traceback: null });
  await worker.close();
});

test('arguments, results and host results deeper than 512 levels fail their call alone', async () => {
  const [worker] = await Worker.ready(FAULT);
  let deep = 1;
  for (let index = 0; index < 600; index += 1) deep = [deep];
  const args = await worker.call(1, 'echo', { deep });
  assert.equal(args.error.type, 'DepthLimitExceeded');
  assert.match(args.error.message, /limit of 512 levels/);
  const result = await worker.call(2, 'deep', { depth: 513 });
  assert.equal(result.error.type, 'DepthLimitExceeded');
  assert.equal((await worker.call(3, 'deep', { depth: 512 })).success, true);
  // A frame far too deep for a recursive decoder still fails only its call.
  const frame = `{"kind":"call","id":4,"command":"echo","args":{"x":${'['.repeat(100_000)}${']'.repeat(100_000)}}}`;
  const payload = Buffer.from(frame);
  const header = Buffer.alloc(4);
  header.writeUInt32BE(payload.length);
  worker.writeRaw(Buffer.concat([header, payload]));
  assert.equal((await worker.next(isResult(4))).error.type, 'DepthLimitExceeded');
  worker.send({ kind: 'call', id: 5, command: 'host', args: { name: 'deep' } });
  const call = await worker.next((m) => m.kind === 'host_call' && m.id === 5);
  let deepResult = 1;
  for (let index = 0; index < 513; index += 1) deepResult = [deepResult];
  worker.send({ kind: 'host_result', id: 5, ref: call.ref, success: true, result: deepResult });
  assert.equal((await worker.next(isResult(5))).error.type, 'DepthLimitExceeded');
  assert.equal((await worker.call(6, 'add', { a: 1 })).result, 1);
  await worker.close();
});

test('a cancel aborts ctx.signal; the answer is a Cancelled error and the worker serves on', async () => {
  const [worker] = await Worker.ready(FAULT);
  worker.send({ kind: 'call', id: 1, command: 'sleep', args: { ms: 60_000 } });
  worker.send({ kind: 'ping', id: 99 });
  assert.equal((await worker.next((m) => m.kind === 'pong')).id, 99);
  worker.send({ kind: 'cancel', id: 1 });
  assert.equal((await worker.next(isResult(1))).error.type, 'Cancelled');
  assert.equal((await worker.call(2, 'add', { a: 1, b: 2 })).result, 3);
  await worker.close();
});

test('the deadline aborts the signal by itself', async () => {
  const [worker] = await Worker.ready(FAULT);
  const started = Date.now();
  const reply = await worker.call(1, 'sleep', { ms: 60_000 }, { timeout_ms: 100 });
  assert.equal(reply.error.type, 'Cancelled');
  assert.match(reply.error.message, /deadline/);
  assert.ok(Date.now() - started < 5000);
  await worker.close();
});

test('generators stream chunks in order then the result; unstreamed they return a list', async () => {
  const [worker] = await Worker.ready(FAULT);
  worker.send({ kind: 'call', id: 1, command: 'count', args: { n: 4 }, stream: true });
  const result = await worker.next(isResult(1));
  const chunks = worker.inbox.filter((m) => m.kind === 'chunk' && m.id === 1);
  assert.deepEqual(chunks.map((m) => [m.seq, m.data.i]), [[0, 0], [1, 1], [2, 2], [3, 3]]);
  assert.deepEqual(result.result, { total: 4 });
  assert.deepEqual((await worker.call(2, 'count', { n: 2 })).result, { total: 2 });
  worker.send({ kind: 'call', id: 3, command: 'send_count', args: { n: 3 }, stream: true });
  assert.deepEqual((await worker.next(isResult(3))).result, { total: 3 });
  assert.equal(worker.inbox.filter((m) => m.kind === 'chunk' && m.id === 3).length, 3);
  await worker.close();
});

test('a cancel closes a streaming generator (its finally runs)', async () => {
  const [worker] = await Worker.ready(FAULT);
  const scratch = mkdtempSync(path.join(tmpdir(), 'snakepit-node-'));
  const closedFile = path.join(scratch, 'closed');
  worker.send({ kind: 'call', id: 1, command: 'endless', args: { closed_file: closedFile }, stream: true });
  await worker.next((m) => m.kind === 'chunk' && m.seq === 2);
  worker.send({ kind: 'cancel', id: 1 });
  assert.equal((await worker.next(isResult(1))).error.type, 'Cancelled');
  assert.ok(existsSync(closedFile));
  await worker.close();
});

test('host calls go out with a ref and their answers come back by ref, errors typed', async () => {
  const [worker] = await Worker.ready(FAULT);
  worker.send({ kind: 'call', id: 1, command: 'host', args: { name: 'lookup', args: { q: 1 } } });
  worker.send({ kind: 'call', id: 2, command: 'host_error', args: { name: 'missing' } });
  const first = await worker.next((m) => m.kind === 'host_call' && m.id === 1);
  const second = await worker.next((m) => m.kind === 'host_call' && m.id === 2, 300).catch(() => null);
  // With capacity 1 the second call waits for the first.
  assert.equal(second, null);
  assert.deepEqual([first.tool, first.args], ['lookup', { q: 1 }]);
  worker.send({ kind: 'host_result', id: 1, ref: first.ref, success: true, result: { name: 'Ada' } });
  assert.deepEqual((await worker.next(isResult(1))).result, { name: 'Ada' });
  const call = await worker.next((m) => m.kind === 'host_call' && m.id === 2);
  assert.notEqual(call.ref, first.ref);
  worker.send({ kind: 'host_result', id: 2, ref: call.ref, success: false, error: { type: 'UnknownHostTool', message: 'no such tool' } });
  assert.deepEqual((await worker.next(isResult(2))).result, { type: 'UnknownHostTool', message: 'no such tool' });
  await worker.close();
});

test('getVariable and setVariable are the snakepit.* host tools', async () => {
  const [worker] = await Worker.ready(FAULT);
  worker.send({ kind: 'call', id: 1, command: 'variables', args: { name: 't', value: 0.2 }, session_id: 's' });
  const answer = async (tool, result) => {
    const call = await worker.next((m) => m.kind === 'host_call');
    assert.equal(call.tool, tool);
    worker.send({ kind: 'host_result', id: 1, ref: call.ref, success: true, result });
    return call;
  };
  await answer('snakepit.get_variable', { name: 't', value: 0.7 });
  const set = await answer('snakepit.set_variable', { name: 't', value: 0.2 });
  assert.deepEqual(set.args, { name: 't', value: 0.2 });
  await answer('snakepit.get_variable', { name: 't', value: 0.2 });
  assert.deepEqual((await worker.next(isResult(1))).result, { before: 0.7, after: 0.2 });
  await worker.close();
});

test('session state lives per session id until session_drop', async () => {
  const [worker] = await Worker.ready(FAULT);
  const count = async (id, session) => (await worker.call(id, 'session_count', {}, { session_id: session })).result.count;
  assert.equal(await count(1, 'a'), 1);
  assert.equal(await count(2, 'a'), 2);
  assert.equal(await count(3, 'b'), 1);
  assert.equal((await worker.call(4, 'session_count')).result.count, 1);
  worker.send({ kind: 'session_drop', session_id: 'a' });
  assert.equal(await count(5, 'a'), 1);
  await worker.close();
});

test('with capacity N, N calls run at once and the rest wait in order', async () => {
  const [worker] = await Worker.ready(FAULT, { env: { SNAKEPIT_CAPACITY: '3' } });
  for (let id = 1; id <= 4; id += 1) worker.send({ kind: 'call', id, command: 'concurrent', args: { ms: 300 } });
  const replies = [];
  for (let id = 1; id <= 4; id += 1) replies.push((await worker.next(isResult(id))).result);
  const overlapping = replies.slice(0, 3).every((reply) => reply.started < replies[0].ended);
  assert.ok(overlapping, JSON.stringify(replies));
  assert.ok(replies[3].started >= Math.min(...replies.slice(0, 3).map((reply) => reply.ended)));
  await worker.close();
});

test('console output never reaches the link', async () => {
  const [worker] = await Worker.ready(FAULT);
  assert.equal((await worker.call(1, 'noisy', { lines: 50 })).result, 50);
  assert.equal((await worker.call(2, 'add', { a: 1, b: 1 })).result, 2);
  assert.match(worker.stdout, /stdout line 49/);
  await worker.close();
});

test('end-of-file and shutdown end the process with 0; a bad frame with 1', async () => {
  const [eof] = await Worker.ready(FAULT);
  assert.deepEqual(await eof.close(), { code: 0, signal: null });
  const [stop] = await Worker.ready(FAULT);
  stop.send({ kind: 'shutdown' });
  assert.deepEqual(await stop.exited, { code: 0, signal: null });
  const [bad] = await Worker.ready(FAULT);
  bad.writeRaw(Buffer.from('0000000461626364', 'hex'));
  assert.deepEqual(await bad.exited, { code: 1, signal: null });
  assert.match(bad.stderr, /protocol error/);
});

test('an adapter that cannot be loaded exits with 2 and says why', async () => {
  for (const spec of [supportAdapter('missing.js', 'X'), supportAdapter('fault_adapter.js', 'Nope')]) {
    const worker = Worker.start(spec);
    assert.deepEqual(await worker.exited, { code: 2, signal: null });
    assert.match(worker.stderr, /snakepit-bridge: error/);
  }
});

test('a value no rule converts fails its call with SerializationError; the worker lives on', async () => {
  const [worker] = await Worker.ready(FAULT);
  const refused = await worker.call(1, 'unserializable');
  assert.equal(refused.error.type, 'SerializationError');
  assert.match(refused.error.message, /holds a Function/);
  const values = await worker.call(2, 'values');
  assert.deepEqual(values.result, {
    big: 9223372036854775808n,
    date: '1970-01-01T00:00:00.000Z',
    bytes: Buffer.from('hi'), // a buffer on the wire, a Buffer again once decoded
    map: { 1: 'one' },
    set: [1, 2],
  });
  await worker.close();
});

test('unknown message kinds are ignored (and logged)', async () => {
  const [worker] = await Worker.ready(FAULT);
  worker.send({ kind: 'from_the_future', id: 1 });
  assert.equal((await worker.call(2, 'add', { a: 2 })).result, 2);
  assert.match(worker.stderr, /unknown kind "from_the_future"/);
  await worker.close();
});

test('ctx.emit sends an event frame for the call with its correlation id', async () => {
  const [worker] = await Worker.ready(FAULT);
  worker.send({ kind: 'call', id: 7, command: 'emit_event', args: { name: 'model.loaded' }, correlation_id: 'c-42' });
  const event = await worker.next((m) => m.kind === 'event');
  assert.equal(event.id, 7);
  assert.equal(event.name, 'model.loaded');
  assert.equal(event.correlation_id, 'c-42');
  assert.deepEqual(event.data, { measurements: { items: 3 }, metadata: { source: 'test' } });
  const result = await worker.next(isResult(7));
  assert.equal(result.result, 'c-42');
  // The refused name was dropped, not sent.
  assert.equal((await worker.call(8, 'add', { a: 2 })).result, 2);
  await worker.close();
});
