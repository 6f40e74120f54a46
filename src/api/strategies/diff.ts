// A path-by-path difference of two objects for "may not change" messages (Kubernetes prints cmp.Diff).

function leaves(v: unknown, path: string, out: Map<string, string>): void {
  if (Array.isArray(v)) {
    v.forEach((x, i) => leaves(x, `${path}[${i}]`, out));
    return;
  }
  if (v && typeof v === 'object') {
    for (const k of Object.keys(v)) leaves((v as Record<string, unknown>)[k], path ? `${path}.${k}` : k, out);
    return;
  }
  // Zero values and absent fields are the same thing in Go structs.
  if (v === undefined || v === null || v === '' || v === 0 || v === false) return;
  out.set(path, JSON.stringify(v));
}

/** Lines "-\t<path>: <old>" / "+\t<path>: <new>" for every leaf that differs, at most max pairs. */
export function fieldDiff(oldV: unknown, newV: unknown, type: string, max = 20): string {
  const a = new Map<string, string>();
  const b = new Map<string, string>();
  leaves(oldV, '', a);
  leaves(newV, '', b);
  const paths = [...new Set([...a.keys(), ...b.keys()])].filter((p) => a.get(p) !== b.get(p)).sort();
  const lines = [`  ${type}{`];
  for (const p of paths.slice(0, max)) {
    if (a.has(p)) lines.push(`-\t${p}: ${a.get(p)}`);
    if (b.has(p)) lines.push(`+\t${p}: ${b.get(p)}`);
  }
  if (paths.length > max) lines.push(`  \t... // ${paths.length - max} more differences`);
  lines.push('  }');
  return lines.join('\n');
}
