// Adapters and tools: how user code declares what a worker can do.
//
// An adapter is a class (one instance per worker) or a plain object. Its tools are its
// methods and function-valued properties, except `constructor`, `initialize` and names
// starting with `_`. A tool is called as `tool(args, ctx)`: `args` is the call's argument
// map, `ctx` the CallContext. Sync functions, async functions and (async) generator
// functions all work; a generator streams, one chunk per yielded value.
//
// What `hello` says about a tool (description, parameters, streaming) comes from, in order:
// the `tool(spec, fn)` wrapper, an entry in the adapter's `tools` map (a static field on a
// class, a property on a plain object), or nothing. Parameters given there are checked on
// every call: a missing required one is an InvalidArguments error, and defaults are filled in.

const TOOL_SPEC = Symbol.for('snakepit.tool');
const SKIPPED = new Set(['constructor', 'initialize', 'tools', 'capacity']);

/** The arguments of a call do not fit the tool's parameters. */
export class InvalidArguments extends Error {
  constructor(message) {
    super(message);
    this.name = 'InvalidArguments';
  }
}

/**
 * Attaches a description to a tool function: `tool({description, parameters, streaming}, fn)`
 * or `tool(fn)`. Returns `fn`.
 */
export function tool(spec, fn) {
  if (typeof spec === 'function') return tool({}, spec);
  if (typeof fn !== 'function') throw new TypeError('tool(spec, fn) needs a function');
  Object.defineProperty(fn, TOOL_SPEC, { value: spec ?? {}, enumerable: false });
  return fn;
}

/** The kind of a function: `sync`, `async`, `generator` or `asyncGenerator`. */
export function functionKind(fn) {
  switch (fn?.constructor?.name) {
    case 'AsyncFunction':
      return 'async';
    case 'GeneratorFunction':
      return 'generator';
    case 'AsyncGeneratorFunction':
      return 'asyncGenerator';
    default:
      return 'sync';
  }
}

function normalizeParameters(parameters, toolName) {
  if (parameters === undefined || parameters === null) return [];
  const entries = Array.isArray(parameters)
    ? parameters.map((entry) => (typeof entry === 'string' ? { name: entry } : entry))
    : Object.entries(parameters).map(([name, entry]) => (
      typeof entry === 'string' ? { name, type: entry } : { name, ...entry }));
  return entries.map((entry) => {
    if (!entry || typeof entry.name !== 'string') {
      throw new TypeError(`tool ${toolName}: every parameter needs a name`);
    }
    const hasDefault = entry.default !== undefined;
    return {
      name: entry.name,
      type: entry.type ?? null,
      required: entry.required ?? !hasDefault,
      default: hasDefault ? entry.default : null,
      description: entry.description ?? null,
    };
  });
}

/** One tool of an adapter: its spec for `hello`, its kind and a bound invoker. */
export class Tool {
  constructor(name, fn, owner, spec = {}) {
    this.name = name;
    this.kind = functionKind(fn);
    this.function = fn;
    this.owner = owner;
    const parameters = normalizeParameters(spec.parameters, name);
    this.required = parameters.filter((p) => p.required).map((p) => p.name);
    this.defaults = parameters.filter((p) => p.default !== null).map((p) => [p.name, p.default]);
    this.spec = {
      name,
      description: spec.description ?? null,
      parameters,
      streaming: Boolean(spec.streaming) || this.kind === 'generator' || this.kind === 'asyncGenerator',
    };
  }

  /** Checks `args` against the declared parameters and fills in defaults. */
  bind(args) {
    for (const key of this.required) {
      if (!(key in args)) {
        const accepted = this.spec.parameters.map((p) => p.name).join(', ') || 'none';
        throw new InvalidArguments(
          `tool '${this.name}' is missing required argument '${key}' (accepted: ${accepted})`,
        );
      }
    }
    if (this.defaults.length === 0) return args;
    let bound = args;
    for (const [key, value] of this.defaults) {
      if (!(key in args)) {
        if (bound === args) bound = { ...args };
        bound[key] = value;
      }
    }
    return bound;
  }

  /** Calls the tool with checked arguments and the context (for tests, too). */
  invoke(args, ctx) {
    return this.function.call(this.owner, this.bind(args), ctx);
  }
}

function specsOf(adapter) {
  const own = adapter && typeof adapter.tools === 'object' && adapter.tools !== null ? adapter.tools : null;
  const ctor = adapter?.constructor;
  const statics = ctor && ctor !== Object && typeof ctor.tools === 'object' && ctor.tools !== null
    ? ctor.tools
    : null;
  return { ...(statics ?? {}), ...(own ?? {}) };
}

/** Finds the tools of an adapter instance (or plain object), sorted by name. */
export function discoverTools(adapter) {
  const specs = specsOf(adapter);
  const found = new Map();
  const consider = (key) => {
    if (typeof key !== 'string' || SKIPPED.has(key) || key.startsWith('_') || found.has(key)) return;
    const value = adapter[key];
    if (typeof value !== 'function') return;
    const spec = value[TOOL_SPEC] ?? specs[key] ?? {};
    const name = spec.name ?? key;
    found.set(key, new Tool(name, value, adapter, spec));
  };
  for (const key of Object.keys(adapter)) consider(key);
  for (let proto = Object.getPrototypeOf(adapter); proto && proto !== Object.prototype;
    proto = Object.getPrototypeOf(proto)) {
    for (const key of Object.getOwnPropertyNames(proto)) consider(key);
  }
  const tools = new Map();
  for (const entry of [...found.values()].sort((a, b) => a.name.localeCompare(b.name))) {
    if (tools.has(entry.name)) throw new Error(`two methods define tool '${entry.name}'`);
    tools.set(entry.name, entry);
  }
  return tools;
}

/** Whether `value` is a class (as opposed to a plain function). */
export function isClass(value) {
  return typeof value === 'function'
    && /^class[\s{]/.test(Function.prototype.toString.call(value));
}

/**
 * Makes the adapter instance from a module export: a class is instantiated, a function is
 * called as a factory (and awaited), an object is used as it is.
 */
export async function instantiate(exported) {
  if (isClass(exported)) return new exported();
  if (typeof exported === 'function') return await exported();
  if (exported !== null && typeof exported === 'object') return exported;
  throw new TypeError(`the adapter export is a ${typeof exported}, not a class or an object`);
}
