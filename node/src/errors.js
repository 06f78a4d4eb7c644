// Thrown values as the protocol's error payload `{type, message, traceback}`.
//
// `type` is the error's name, or its class name when the name is the generic `Error` (so
// `class NotFound extends Error {}` arrives as `NotFound`); `traceback` is the stack without
// the frames of the bridge itself.

import { fileURLToPath } from 'node:url';

const OWN_FILES = ['./adapter.js', './call.js', './link.js', './runtime.js'].map((file) => fileURLToPath(new URL(file, import.meta.url)));

/** The error payload of a thrown value: `{type, message, traceback}`. */
export function errorPayload(error) {
  if (!(error instanceof Error)) {
    let text;
    try {
      text = typeof error === 'string' ? error : JSON.stringify(error) ?? String(error);
    } catch {
      text = String(error);
    }
    return { type: 'Error', message: text, traceback: null };
  }
  let type = error.name;
  if (!type || type === 'Error') type = error.constructor?.name || 'Error';
  let stack = null;
  if (typeof error.stack === 'string') {
    // The frames from the first of the bridge's own onwards are the runtime, not the tool.
    const lines = error.stack.split('\n');
    const own = lines.findIndex((line, index) => index > 0 && OWN_FILES.some((file) => line.includes(file)));
    stack = (own > 0 ? lines.slice(0, own) : lines).join('\n');
  }
  return { type, message: String(error.message ?? ''), traceback: stack };
}

