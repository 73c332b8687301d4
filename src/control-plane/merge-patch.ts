// JSON Merge Patch (RFC 7396): objects merge member by member, null removes a member, anything
// else (arrays included) replaces what was there.
type JsonObject = Record<string, unknown>;

const isObject = (v: unknown): v is JsonObject => typeof v === 'object' && v !== null && !Array.isArray(v);

export function applyMergePatch(target: unknown, patch: unknown): unknown {
  if (!isObject(patch)) return patch;
  const out: JsonObject = isObject(target) ? { ...target } : {};
  for (const [name, value] of Object.entries(patch)) {
    if (value === null) delete out[name];
    // defineProperty: a member named "__proto__" stays a member (and fails the schema as unknown).
    else Object.defineProperty(out, name, { value: applyMergePatch(out[name], value), enumerable: true, writable: true, configurable: true });
  }
  return out;
}
