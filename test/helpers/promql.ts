// Which metrics and labels a PromQL expression reads, strictly enough that a renamed metric or label
// in the gateway shows up as a dead query. Not a full parser: it knows PromQL's lexical shapes
// (strings, selectors, ranges, grouping clauses, numbers, durations, keywords, function calls).

export interface Selector {
  /** Metric name; '' for a selector without one (`{__name__=~…}`), which a dashboard should not use. */
  metric: string;
  labels: string[];
}

const KEYWORDS = new Set([
  'and',
  'or',
  'unless',
  'by',
  'without',
  'on',
  'ignoring',
  'group_left',
  'group_right',
  'offset',
  'bool',
  'inf',
  'nan',
  'atan2',
]);

/** Grafana's variables (`$job`, `${job}`, `$__rate_interval`) as Grafana would fill them in. */
export function interpolate(expr: string, vars: Record<string, string> = {}): string {
  return expr.replace(/\$\{(\w+)(?::\w+)?\}|\$(\w+)/g, (_m, a?: string, b?: string) => {
    const name = a ?? b ?? '';
    if (name in vars) return vars[name] ?? '';
    if (name === '__rate_interval' || name === '__interval') return '1m';
    if (name === '__range') return '1h';
    return '.+';
  });
}

export function selectors(expr: string): Selector[] {
  let e = interpolate(expr)
    // String literals first: label values may hold any character, braces included.
    .replace(/"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|`[^`]*`/g, '""')
    // Ranges and subqueries: [5m], [1h:1m].
    .replace(/\[[^\]]*\]/g, ' ');
  const found: Selector[] = [];
  e = e.replace(/([A-Za-z_:][\w:]*)?\s*\{([^}]*)\}/g, (_m, metric: string | undefined, inner: string) => {
    const labels = [...inner.matchAll(/([A-Za-z_]\w*)\s*(?:=~|!~|!=|=)/g)].map((m) => m[1] ?? '');
    found.push({ metric: metric ?? '', labels });
    return ' ';
  });
  e = e
    .replace(/\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, ' ')
    .replace(/(?<![\w:])\d+(?:\.\d+)?(?:[eE][+-]?\d+)?(?:ms|[smhdwy])?(?![\w:])/g, ' ')
    .replace(/(?<![\w:])0x[0-9a-fA-F]+/g, ' ');
  for (const m of e.matchAll(/([A-Za-z_:][\w:]*)(\s*\()?/g)) {
    const word = m[1] ?? '';
    if (m[2] || KEYWORDS.has(word.toLowerCase())) continue; // a function or aggregation, or a keyword
    found.push({ metric: word, labels: [] });
  }
  return found;
}

/** Label names of `by (…)`, `without (…)`, `on (…)`, `ignoring (…)` and `group_*(…)` clauses. */
export function groupingLabels(expr: string): string[] {
  const e = expr.replace(/"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|`[^`]*`/g, '""');
  return [...e.matchAll(/\b(?:by|without|on|ignoring|group_left|group_right)\s*\(([^)]*)\)/g)].flatMap((m) =>
    (m[1] ?? '')
      .split(',')
      .map((l) => l.trim())
      .filter(Boolean),
  );
}

/** `label_values(selector, label)` (a Grafana variable query): the selector and the label. */
export function labelValuesQuery(q: string): { expr: string; label: string } | null {
  const m = /^\s*label_values\(\s*(.*?)\s*,\s*([A-Za-z_]\w*)\s*\)\s*$/.exec(q);
  return m ? { expr: m[1] ?? '', label: m[2] ?? '' } : null;
}

/** What /metrics exports: metric names as PromQL sees them (histogram suffixes included), and the
 * label names seen on each. */
export function exported(text: string): Map<string, Set<string>> {
  const out = new Map<string, Set<string>>();
  const add = (name: string, labels: string[] = []) => {
    const set = out.get(name) ?? new Set<string>();
    for (const l of labels) set.add(l);
    out.set(name, set);
  };
  for (const m of text.matchAll(/^# TYPE (\S+) (\S+)$/gm)) {
    const [, name = '', type] = m;
    if (type === 'histogram') for (const s of ['_bucket', '_sum', '_count']) add(name + s);
    else if (type === 'summary') for (const s of ['', '_sum', '_count']) add(name + s);
    else add(name);
  }
  for (const m of text.matchAll(/^([A-Za-z_:][\w:]*)\{(.*)\} \S+$/gm)) {
    add(
      m[1] ?? '',
      [...(m[2] ?? '').matchAll(/(\w+)="/g)].map((l) => l[1] ?? ''),
    );
  }
  return out;
}
