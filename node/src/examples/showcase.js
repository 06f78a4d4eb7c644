// The showcase adapter: the original JavaScript adapter's commands, ready to run as a worker.
//
// `ping`, `echo`, `compute` (add, subtract, multiply, divide, power, sqrt), `random`
// (uniform, normal, int), a streaming `progress`, and `info`. Run it with
// `node src/main.js --adapter src/examples/showcase.js:ShowcaseAdapter`.

import { InvalidArguments } from '../adapter.js';
import { availableEncodings, hasMsgpack } from '../protocol.js';

const OPERATIONS = ['add', 'subtract', 'multiply', 'divide', 'power', 'sqrt'];
const RANDOM_TYPES = ['uniform', 'normal', 'int'];

function number(args, name, fallback) {
  const value = args[name] ?? fallback;
  if (typeof value !== 'number' || Number.isNaN(value)) {
    throw new InvalidArguments(`'${name}' must be a number, got ${JSON.stringify(value)}`);
  }
  return value;
}

/** Demonstrates the Node bridge: health check, echo, arithmetic, randomness, streaming. */
export class ShowcaseAdapter {
  static tools = {
    ping: { description: 'Check that the worker answers; returns a fixed status.' },
    echo: { description: 'Return the arguments unchanged.' },
    compute: {
      description: 'Apply an arithmetic operation: add, subtract, multiply, divide, power or sqrt (of a).',
      parameters: {
        operation: { type: 'string', required: true, description: OPERATIONS.join(', ') },
        a: { type: 'number', required: true, description: 'The left operand (the only one for sqrt).' },
        b: { type: 'number', required: false, description: 'The right operand.' },
      },
    },
    random: {
      description: 'A random number: uniform in [min, max), normal(mean, std), or an int in [min, max].',
      parameters: {
        type: { type: 'string', default: 'uniform', description: RANDOM_TYPES.join(', ') },
        min: { type: 'number', required: false, description: 'uniform and int: the lower bound (default 0).' },
        max: { type: 'number', required: false, description: 'uniform: 1 by default; int: 100.' },
        mean: { type: 'number', required: false, description: 'normal: the mean (default 0).' },
        std: { type: 'number', required: false, description: 'normal: the standard deviation (default 1).' },
      },
    },
    progress: {
      description: 'Stream progress: one chunk per step, then a summary.',
      parameters: {
        steps: { type: 'integer', default: 10, description: 'How many steps to report.' },
        delay_ms: { type: 'integer', default: 50, description: 'How long each step takes.' },
      },
    },
    info: { description: 'Describe this worker: process id, Node version, encodings.' },
  };

  ping() {
    return { status: 'pong', timestamp_ms: Date.now() };
  }

  echo(args) {
    return args;
  }

  compute(args) {
    const { operation } = args;
    const a = number(args, 'a');
    const b = operation === 'sqrt' ? 0 : number(args, 'b');
    let result;
    switch (operation) {
      case 'add': result = a + b; break;
      case 'subtract': result = a - b; break;
      case 'multiply': result = a * b; break;
      case 'divide':
        if (b === 0) throw new RangeError('division by zero');
        result = a / b;
        break;
      case 'power': result = a ** b; break;
      case 'sqrt':
        if (a < 0) throw new RangeError('square root of a negative number');
        result = Math.sqrt(a);
        break;
      default:
        throw new InvalidArguments(
          `unknown operation ${JSON.stringify(operation)}; valid operations are: ${OPERATIONS.join(', ')}`,
        );
    }
    return { operation, a, ...(operation === 'sqrt' ? {} : { b }), result };
  }

  random(args) {
    const type = args.type === 'integer' ? 'int' : args.type;
    let value;
    if (type === 'uniform') {
      const min = number(args, 'min', 0);
      const max = number(args, 'max', 1);
      value = min + Math.random() * (max - min);
    } else if (type === 'int') {
      const min = Math.ceil(number(args, 'min', 0));
      const max = Math.floor(number(args, 'max', 100));
      if (max < min) throw new RangeError(`max ${max} is below min ${min}`);
      value = min + Math.floor(Math.random() * (max - min + 1));
    } else if (type === 'normal') {
      const mean = number(args, 'mean', 0);
      const std = number(args, 'std', 1);
      // Box-Muller; 1 - random() is in (0, 1], so the logarithm is finite.
      const radius = Math.sqrt(-2 * Math.log(1 - Math.random()));
      value = mean + std * radius * Math.cos(2 * Math.PI * Math.random());
    } else {
      throw new InvalidArguments(
        `unknown random type ${JSON.stringify(args.type)}; valid types are: ${RANDOM_TYPES.join(', ')}`,
      );
    }
    return { type, value };
  }

  async *progress({ steps, delay_ms: delayMs }, ctx) {
    for (let index = 0; index < steps; index += 1) {
      await ctx.sleep(delayMs);
      yield { step: index + 1, steps, progress: ((index + 1) / steps) * 100 };
    }
    return { steps, done: true };
  }

  info(_args, ctx) {
    return {
      adapter: 'ShowcaseAdapter',
      pid: process.pid,
      node_version: process.versions.node,
      worker_id: ctx.workerId,
      encodings: availableEncodings(),
      msgpack: hasMsgpack(),
    };
  }
}
