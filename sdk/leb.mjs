// LEB128, the variable-length integers of the wasm binary format: read by
// short-names.mjs and dead-data.mjs, which walk the module's sections.

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
