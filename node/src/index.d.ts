// Types of snakepit-bridge, the Node.js side of snakepit.

import type { Socket } from 'node:net';

/** A message map as the protocol carries it. */
export type Message = Record<string, unknown>;

/** An encoding name. */
export type Encoding = 'json' | 'msgpack';

/** One parameter of a tool, as `hello` describes it. */
export interface ParamSpec {
  name: string;
  type: string | null;
  required: boolean;
  default: unknown;
  description: string | null;
}

/** A tool as `hello` describes it. */
export interface ToolSpec {
  name: string;
  description: string | null;
  parameters: ParamSpec[];
  streaming: boolean;
}

/** One parameter as an adapter declares it: a type name, or its details. */
export type ParamDeclaration =
  | string
  | {
      type?: string;
      required?: boolean;
      default?: unknown;
      description?: string;
    };

/** What an adapter may say about a tool. */
export interface ToolDeclaration {
  /** The tool's name, when it differs from the method's. */
  name?: string;
  description?: string;
  /** By name (`{a: 'number'}`), or as a list of specs. */
  parameters?:
    | Record<string, ParamDeclaration>
    | Array<string | ({ name: string } & Exclude<ParamDeclaration, string>)>;
  /** Whether the tool streams (implied for generator functions). */
  streaming?: boolean;
}

/** The context a tool receives as its second argument. */
export declare class CallContext {
  /** The id the host gave this call. */
  readonly callId: number | bigint;
  /** The call's correlation id, or null. */
  readonly correlationId: string | null;
  /** Sends a telemetry event for this call; never throws, never waits. */
  emit(name: string, measurements?: Record<string, number>, metadata?: Record<string, unknown>): void;
  /** The tool name the host asked for. */
  readonly command: string;
  /** The call's session id, or null. */
  readonly sessionId: string | null;
  /** This worker's id (`w3`), or null. */
  readonly workerId: string | null;
  /** The call's timeout in milliseconds, or null. */
  readonly timeoutMs: number | null;
  /** Milliseconds left before the deadline, or null. */
  readonly remainingMs: number | null;
  /** Whether the host asked for a stream of chunks. */
  readonly streaming: boolean;
  /** Fires when the host cancels the call or its deadline passes; the reason is a Cancelled. */
  readonly signal: AbortSignal;
  /** Whether the call was cancelled (or passed its deadline). */
  readonly cancelled: boolean;
  /** State kept on this worker for the call's session (fresh without a session). */
  readonly session: Record<string, unknown>;
  /** Throws Cancelled if the call was cancelled. */
  throwIfCancelled(): void;
  /** Waits `ms` milliseconds; rejects with Cancelled when the call is cancelled. */
  sleep(ms: number): Promise<void>;
  /** Sends one chunk (dropped when the host did not ask for a stream). */
  send(data: unknown): Promise<void>;
  /** Calls a host tool; rejects with HostToolError when it fails. */
  callHostTool<T = unknown>(name: string, args?: Record<string, unknown>): Promise<T>;
  /** The host tools visible to this call. */
  listHostTools(): Promise<Array<{ name: string; description: string | null; parameters: unknown }>>;
  /** The value of the session variable `name`. */
  getVariable<T = unknown>(name: string): Promise<T>;
  /** Sets the session variable `name`; resolves with the updated variable. */
  setVariable(name: string, value: unknown): Promise<Record<string, unknown>>;
  /** The session's variables. */
  listVariables(): Promise<unknown>;
}

/** A tool function: sync, async, or an (async) generator for streaming. */
export type ToolFunction = (
  args: Record<string, any>,
  ctx: CallContext,
) => unknown | Promise<unknown> | Iterator<unknown> | AsyncIterator<unknown>;

/** The host cancelled the call, or its deadline passed. */
export declare class Cancelled extends Error {
  constructor(message?: string);
}

/** A host tool failed; `errorType` is the host's error type (`UnknownHostTool`, ...). */
export declare class HostToolError extends Error {
  constructor(errorType: string, message: string, tool?: string);
  readonly errorType: string;
  readonly hostMessage: string;
  readonly tool: string;
  static fromReply(error: unknown, tool: string): HostToolError;
}

/** The arguments of a call do not fit the tool's parameters. */
export declare class InvalidArguments extends Error {
  constructor(message: string);
}

/** A value cannot be sent to the host (too deep, too large, or not encodable). */
export declare class SerializationError extends Error {
  constructor(message: string);
}

/** A value nests deeper than MAX_DEPTH levels of lists and maps. */
export declare class DepthLimitExceeded extends Error {
  constructor(message: string);
}

/** A frame or message broke the wire contract. */
export declare class ProtocolError extends Error {
  constructor(message: string);
}

/** The adapter could not be imported or found. */
export declare class AdapterLoadError extends Error {
  constructor(message: string, options?: { cause?: unknown });
}

/** Attaches a declaration to a tool function; returns the function. */
export declare function tool<F extends ToolFunction>(spec: ToolDeclaration, fn: F): F;
export declare function tool<F extends ToolFunction>(fn: F): F;

/** One tool of an adapter. */
export declare class Tool {
  constructor(name: string, fn: ToolFunction, owner: unknown, spec?: ToolDeclaration);
  readonly name: string;
  readonly kind: 'sync' | 'async' | 'generator' | 'asyncGenerator';
  readonly spec: ToolSpec;
  /** Checks `args` against the declared parameters and fills in defaults. */
  bind(args: Record<string, unknown>): Record<string, unknown>;
  /** Calls the tool as the runtime does. */
  invoke(args: Record<string, unknown>, ctx: CallContext | null): unknown;
}

/** The tools of an adapter instance (or plain object), by name. */
export declare function discoverTools(adapter: object): Map<string, Tool>;

/** How deep a value may be nested before the call fails. */
export declare const MAX_DEPTH: 512;
/** A value as plain wire data for `encoding`. */
export declare function toWire(value: unknown, encoding: Encoding, what?: string): unknown;
/** The protocol's error payload of a thrown value. */
export declare function errorPayload(error: unknown): {
  type: string;
  message: string;
  traceback: string | null;
};

/** 64 MiB. */
export declare const DEFAULT_MAX_FRAME: number;
/** The protocol version this package speaks. */
export declare const PROTOCOL_VERSION: 1;
/** This package's version. */
export declare const VERSION: string;

/** Splits a byte stream into frame payloads. */
export declare class FrameReader {
  constructor(maxFrame?: number);
  maxFrame: number;
  buffered(): number;
  push(chunk: Buffer): void;
  next(): Buffer | null;
  end(): void;
}

export declare function availableEncodings(): Encoding[];
export declare function hasMsgpack(): boolean;
export declare function loadMsgpack(
  module?: unknown,
  fallbacks?: Array<() => Promise<unknown>>,
): Promise<boolean>;
export declare function encode(message: Message, encoding?: Encoding): Buffer;
export declare function encodeFrame(message: Message, encoding?: Encoding): Buffer;
export declare function decode(payload: Uint8Array): Message;
export declare function detectEncoding(payload: Uint8Array): Encoding;
export declare function messageKind(message: Message): string | null;

/** The worker's link to its host. */
export declare class Link {
  constructor(socket: Socket, maxFrame?: number);
  static fromEnvironment(env?: NodeJS.ProcessEnv, maxFrame?: number): Link;
  encoding: Encoding;
  readonly closed: boolean;
  onMessage: (message: Message, payload: Buffer) => void;
  onEnd: () => void;
  onError: (error: Error) => void;
  start(): void;
  send(message: Message, encoding?: Encoding): boolean;
  writeFrame(framed: Uint8Array): boolean;
  drained(): Promise<void>;
  close(): void;
}

/** One worker: an adapter's tools served over a link. */
export declare class Runtime {
  constructor(options: {
    adapterName: string;
    tools: Map<string, Tool>;
    link: Link;
    env?: NodeJS.ProcessEnv;
    /** Used when SNAKEPIT_CAPACITY is not set. */
    capacity?: number;
    exit?: (code: number) => void;
  });
  readonly capacity: number;
  readonly workerId: string | null;
  hello(): Message;
  start(): void;
}

/** An adapter: a class, a factory, or an object whose methods are tools. */
export type AdapterSource = (new () => object) | (() => object | Promise<object>) | object;

/** Serves `adapter` as this process's worker until the host goes away. */
export declare function serve(
  adapter: AdapterSource,
  options?: { name?: string; env?: NodeJS.ProcessEnv; link?: Link },
): Promise<Runtime>;
/** Imports the export `./file.mjs:Export` names. */
export declare function loadAdapter(spec: string): Promise<unknown>;
/** Splits `./file.mjs:Export` into file and export name. */
export declare function parseAdapterSpec(spec: string): { file: string; exportName: string };
