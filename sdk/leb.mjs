// LEB128, the variable-length integers of the wasm binary format, and where an import's
// description ends: read by short-names.mjs, dead-data.mjs and order-functions.mjs,
// which walk the module's sections.

/** The unsigned LEB128 at `at` in `bytes`: `[value, the offset after it]`. */
export function leb(bytes, at) {
  let value = 0;
  let shift = 0;
  for (;;) {
    const byte = bytes[at++];
    value += (byte & 0x7f) * 2 ** shift;
    shift += 7;
    if (byte < 0x80) return [value, at];
  }
}

/** The signed LEB128 at `at` in `bytes` (an `i32.const`'s operand): `[value, the offset after it]`. */
export function signedLeb(bytes, at) {
  let value = 0;
  let shift = 0;
  let byte;
  do {
    byte = bytes[at++];
    value += (byte & 0x7f) * 2 ** shift;
    shift += 7;
  } while (byte & 0x80);
  if (byte & 0x40) value -= 2 ** shift;
  return [value, at];
}

/** `value` as unsigned LEB128 bytes. */
export function toLeb(value) {
  const out = [];
  do {
    let byte = value & 0x7f;
    value = Math.floor(value / 128);
    if (value > 0) byte |= 0x80;
    out.push(byte);
  } while (value > 0);
  return out;
}

/**
 * Where one import's description (its kind, then what it imports, after its two names)
 * that starts at `at` in `bytes` ends.
 */
export function importEnd(bytes, at) {
  const kind = bytes[at++];
  const limits = (p) => {
    const flags = bytes[p++];
    [, p] = leb(bytes, p);
    if (flags & 1) [, p] = leb(bytes, p);
    return p;
  };
  if (kind === 0) return leb(bytes, at)[1]; // function: type index
  if (kind === 1) return limits(at + 1); // table: element type, limits
  if (kind === 2) return limits(at); // memory: limits
  if (kind === 3) return at + 2; // global: value type, mutability
  if (kind === 4) return leb(bytes, at + 1)[1]; // tag: attribute, type index
  throw new Error(`unknown import kind ${kind}`);
}
