// snakepit-bridge: the Node.js side of snakepit, a Rust process pool.
//
// Write an adapter, a class (or object) whose methods the host can call:
//
//   export class Greeter {
//     static tools = { greet: { description: 'Say hello.', parameters: { name: 'string' } } };
//     greet({ name }, ctx) { return `hello ${name}`; }
//   }
//
// and run it as a worker with `node node_modules/snakepit-bridge/src/main.js --adapter
// ./greeter.mjs:Greeter`, or from Rust with `NodeAdapter::new("./greeter.mjs:Greeter")`.
// The wire contract is docs/PROTOCOL.md in the snakepit repository.

export { InvalidArguments, Tool, discoverTools, tool } from './adapter.js';
export { CallContext, Cancelled, HostToolError } from './context.js';
export { DepthLimitExceeded, MAX_DEPTH, SerializationError, toWire } from './convert.js';
export { errorPayload } from './errors.js';
export {
  DEFAULT_MAX_FRAME, FrameReader, ProtocolError, availableEncodings, decode, detectEncoding,
  encode, encodeFrame, hasMsgpack, loadMsgpack, messageKind,
} from './protocol.js';
export { PROTOCOL_VERSION, Runtime } from './runtime.js';
export { Link } from './link.js';
export { AdapterLoadError, loadAdapter, parseAdapterSpec, serve } from './serve.js';

/** The version of this package. */
export const VERSION = '0.1.0';
