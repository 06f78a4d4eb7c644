// JSON that keeps 64-bit integers exact.
//
// JavaScript numbers hold integers exactly only up to 2^53; the protocol's ids and values are
// 64-bit. The fast path is the engine's JSON.parse / JSON.stringify. A text holding a run of
// 16 or more digits goes through a small parser that returns a BigInt for every integer the
// number type cannot hold exactly, and a value holding a BigInt is written by a small
// serializer that prints it as plain digits.

const LONG_DIGITS = /\d{16}/;

/** Parses JSON text, with BigInt for integers beyond Number.MAX_SAFE_INTEGER. */
export function parseJson(text) {
  if (!LONG_DIGITS.test(text)) return JSON.parse(text);
  const parser = new Parser(text);
  let value;
  try {
    value = parser.value();
  } catch (error) {
    // Too deep for this recursive parser: the engine's parser is not recursive, and a
    // value that deep fails its call on the depth limit anyway.
    if (error instanceof RangeError) return JSON.parse(text);
    throw error;
  }
  parser.space();
  if (parser.at < text.length) parser.fail('unexpected text after the value');
  return value;
}

/** Writes a value as compact JSON; BigInt values are written as plain digits. */
export function stringifyJson(value) {
  try {
    return JSON.stringify(value);
  } catch (error) {
    if (!(error instanceof TypeError) || !/BigInt/i.test(error.message)) throw error;
    return write(value);
  }
}

function write(value) {
  if (typeof value === 'bigint') return value.toString();
  if (value === null || typeof value !== 'object') {
    return JSON.stringify(value) ?? 'null';
  }
  if (typeof value.toJSON === 'function') return write(value.toJSON());
  if (Array.isArray(value)) {
    return `[${value.map((item) => (item === undefined || typeof item === 'function' ? 'null' : write(item))).join(',')}]`;
  }
  const parts = [];
  for (const [key, item] of Object.entries(value)) {
    if (item === undefined || typeof item === 'function' || typeof item === 'symbol') continue;
    parts.push(`${JSON.stringify(key)}:${write(item)}`);
  }
  return `{${parts.join(',')}}`;
}

class Parser {
  constructor(text) {
    this.text = text;
    this.at = 0;
  }

  fail(what) {
    throw new SyntaxError(`${what} at position ${this.at}`);
  }

  space() {
    const text = this.text;
    while (this.at < text.length) {
      const c = text.charCodeAt(this.at);
      if (c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09) this.at += 1;
      else break;
    }
  }

  value() {
    this.space();
    const c = this.text[this.at];
    if (c === '{') return this.object();
    if (c === '[') return this.array();
    if (c === '"') return this.string();
    if (c === '-' || (c >= '0' && c <= '9')) return this.number();
    for (const [word, value] of [['true', true], ['false', false], ['null', null]]) {
      if (this.text.startsWith(word, this.at)) {
        this.at += word.length;
        return value;
      }
    }
    return this.fail('unexpected character');
  }

  object() {
    this.at += 1;
    const out = {};
    this.space();
    if (this.text[this.at] === '}') {
      this.at += 1;
      return out;
    }
    for (;;) {
      this.space();
      if (this.text[this.at] !== '"') this.fail('expected a string key');
      const key = this.string();
      this.space();
      if (this.text[this.at] !== ':') this.fail('expected a colon');
      this.at += 1;
      Object.defineProperty(out, key, { value: this.value(), enumerable: true, writable: true, configurable: true });
      this.space();
      const c = this.text[this.at++];
      if (c === '}') return out;
      if (c !== ',') this.fail('expected a comma or a closing brace');
    }
  }

  array() {
    this.at += 1;
    const out = [];
    this.space();
    if (this.text[this.at] === ']') {
      this.at += 1;
      return out;
    }
    for (;;) {
      out.push(this.value());
      this.space();
      const c = this.text[this.at++];
      if (c === ']') return out;
      if (c !== ',') this.fail('expected a comma or a closing bracket');
    }
  }

  string() {
    // JSON forbids raw control characters inside strings, so the pattern names them.
    // eslint-disable-next-line no-control-regex
    const match = /"(?:[^"\\\u0000-\u001f]|\\(?:["\\/bfnrt]|u[0-9a-fA-F]{4}))*"/y;
    match.lastIndex = this.at;
    const found = match.exec(this.text);
    if (found === null) this.fail('invalid string');
    this.at = match.lastIndex;
    return JSON.parse(found[0]);
  }

  number() {
    const match = /-?(?:0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)?/y;
    match.lastIndex = this.at;
    const found = match.exec(this.text);
    if (found === null) this.fail('invalid number');
    this.at = match.lastIndex;
    const text = found[0];
    const number = Number(text);
    if (found[1] === undefined && found[2] === undefined && !Number.isSafeInteger(number)) {
      return BigInt(text);
    }
    return number;
  }
}
