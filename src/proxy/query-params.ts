// One query parameter read from, and removed from, a request target. Both go through nameOf, so
// what is read as parameter `name` is exactly what is removed (however its name was encoded).

/** A name or value as application/x-www-form-urlencoded decodes it; as sent when it does not decode. */
function decoded(part: string): string {
  const spaced = part.includes('+') ? part.replace(/\+/g, ' ') : part;
  if (!spaced.includes('%')) return spaced;
  try {
    return decodeURIComponent(spaced);
  } catch {
    return spaced;
  }
}

function nameOf(pair: string): string {
  const eq = pair.indexOf('=');
  return decoded(eq < 0 ? pair : pair.slice(0, eq));
}

/** Every value of parameter `name` in `target`'s query string, decoded. */
export function queryValues(target: string, name: string): string[] {
  const q = target.indexOf('?');
  if (q < 0) return [];
  const out: string[] = [];
  for (const pair of target.slice(q + 1).split('&')) {
    if (nameOf(pair) !== name) continue;
    const eq = pair.indexOf('=');
    out.push(eq < 0 ? '' : decoded(pair.slice(eq + 1)));
  }
  return out;
}

/** `target` without any parameter named in `names` (the "?" too when none is left). */
export function withoutQueryParams(target: string, names: readonly string[]): string {
  const q = target.indexOf('?');
  if (q < 0) return target;
  const kept = target
    .slice(q + 1)
    .split('&')
    .filter((pair) => !names.includes(nameOf(pair)));
  return kept.length === 0 ? target.slice(0, q) : `${target.slice(0, q)}?${kept.join('&')}`;
}
