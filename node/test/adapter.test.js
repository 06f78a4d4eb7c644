// Adapters: which methods are tools, what hello says about them, how arguments bind.

import assert from 'node:assert/strict';
import { test } from 'node:test';

import { InvalidArguments, discoverTools, instantiate, isClass, tool } from '../src/adapter.js';
import { FaultAdapter, described } from './support/fault_adapter.js';

test('a class instance offers its methods, not the constructor, initialize or _private ones', async () => {
  class Base {
    inherited() {
      return 'base';
    }
  }
  class Adapter extends Base {
    static tools = { add: { description: 'Add.', parameters: { a: 'number', b: { type: 'number', default: 1 } } } };
    initialize() {}
    _helper() {}
    add({ a, b }) {
      return a + b;
    }
    async *stream() {}
  }
  const tools = discoverTools(await instantiate(Adapter));
  assert.deepEqual([...tools.keys()], ['add', 'inherited', 'stream']);
  assert.deepEqual(tools.get('add').spec, {
    name: 'add',
    description: 'Add.',
    parameters: [
      { name: 'a', type: 'number', required: true, default: null, description: null },
      { name: 'b', type: 'number', required: false, default: 1, description: null },
    ],
    streaming: false,
  });
  assert.equal(tools.get('stream').spec.streaming, true);
  assert.equal(tools.get('add').invoke({ a: 2 }, null), 3);
  assert.throws(() => tools.get('add').invoke({}, null), InvalidArguments);
});

test('a plain object with tool() wrappers is an adapter too', async () => {
  const tools = discoverTools(await instantiate(described));
  assert.deepEqual([...tools.keys()], ['greet', 'ping']);
  assert.equal(tools.get('greet').spec.description, 'Say hello.');
  assert.equal(tools.get('greet').invoke({ name: 'Ada' }, null), 'hello Ada');
});

test('tool() renames, and a factory function makes the adapter', async () => {
  const adapter = await instantiate(async () => ({ inner: tool({ name: 'outer' }, () => 1) }));
  assert.deepEqual([...discoverTools(adapter).keys()], ['outer']);
  assert.equal(isClass(FaultAdapter), true);
  assert.equal(isClass(() => 1), false);
  await assert.rejects(instantiate(42), TypeError);
});
