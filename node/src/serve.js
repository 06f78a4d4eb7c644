// Starting a worker: load MessagePack if it can, open the link, make the adapter, serve.
//
// `serve(adapter)` runs the given adapter (a class, a factory or an object) as the worker of
// this process; `loadAdapter(spec)` imports the adapter a `--adapter ./file.mjs:Export`
// names. Both are what `node main.js --adapter ...` (the bridge's command line) uses.

import { createRequire } from 'node:module';
import path from 'node:path';
import { pathToFileURL } from 'node:url';

import { discoverTools, instantiate } from './adapter.js';
import { Link } from './link.js';
import { loadMsgpack, maxFrameFromEnv } from './protocol.js';
import { Runtime } from './runtime.js';

/** The exit code of a worker whose adapter cannot be imported, created or initialised. */
export const EXIT_ADAPTER = 2;

/** The adapter could not be imported or found. */
export class AdapterLoadError extends Error {
  constructor(message, options) {
    super(message, options);
    this.name = 'AdapterLoadError';
  }
}

/** Splits `./file.mjs:Export` into the file and the export (default: `default`). */
export function parseAdapterSpec(spec) {
  const colon = spec.lastIndexOf(':');
  // A Windows drive letter or a URL scheme is not an export name.
  if (colon > 1 && !spec.slice(colon + 1).includes('/')) {
    return { file: spec.slice(0, colon), exportName: spec.slice(colon + 1) || 'default' };
  }
  return { file: spec, exportName: 'default' };
}

function moduleUrl(file) {
  if (file.startsWith('file:')) return file;
  return pathToFileURL(path.resolve(process.cwd(), file)).href;
}

/** Imports the export an adapter spec names. */
export async function loadAdapter(spec) {
  const { file, exportName } = parseAdapterSpec(spec);
  let module;
  try {
    module = await import(moduleUrl(file));
  } catch (error) {
    throw new AdapterLoadError(`cannot import ${file} for adapter ${spec}: ${error.name}: ${error.message}`, { cause: error });
  }
  let target = module;
  for (const part of exportName.split('.')) {
    if (target === null || target === undefined || !(part in Object(target))) {
      throw new AdapterLoadError(`${file} has no export ${JSON.stringify(exportName)} (adapter ${spec})`);
    }
    target = target[part];
  }
  return target;
}

/** Loads MessagePack from the bridge's own packages, else from where the adapter or cwd live. */
export function loadCodecs(near = []) {
  const fallbacks = [...near, path.join(process.cwd(), 'package.json')].map((base) => async () => {
    const require = createRequire(base);
    return import(pathToFileURL(require.resolve('@msgpack/msgpack')).href);
  });
  return loadMsgpack(undefined, fallbacks);
}

function adapterNameOf(adapter, fallback) {
  return fallback ?? adapter?.constructor?.name ?? 'adapter';
}

/**
 * Runs `adapter` (a class, a factory or an object) as this process's worker until the host
 * goes away. Resolves with the runtime once `hello` is sent.
 */
export async function serve(adapter, { name, env = process.env, link } = {}) {
  await loadCodecs();
  const channel = link ?? Link.fromEnvironment(env, maxFrameFromEnv(env));
  const instance = await instantiate(adapter);
  if (typeof instance.initialize === 'function') await instance.initialize();
  const runtime = new Runtime({
    adapterName: adapterNameOf(instance, name),
    tools: discoverTools(instance),
    link: channel,
    env,
    capacity: instance.capacity ?? instance.constructor?.capacity ?? 1,
  });
  runtime.start();
  return runtime;
}

/** Imports the adapter `spec` names and serves it; returns an exit code on failure. */
export async function serveSpec(spec, env = process.env) {
  const { file } = parseAdapterSpec(spec);
  const adapterFile = file.startsWith('file:') ? file : path.resolve(process.cwd(), file);
  await loadCodecs([adapterFile]);
  let exported;
  try {
    exported = await loadAdapter(spec);
  } catch (error) {
    process.stderr.write(`snakepit-bridge: error: ${error.message}\n`);
    if (error.cause?.stack) process.stderr.write(`${error.cause.stack}\n`);
    return EXIT_ADAPTER;
  }
  try {
    await serve(exported, { name: spec, env });
  } catch (error) {
    process.stderr.write(`snakepit-bridge: error: adapter ${spec} failed to start:\n${error?.stack ?? error}\n`);
    return EXIT_ADAPTER;
  }
  return null;
}
