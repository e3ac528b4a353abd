// The provisioned Grafana dashboard read as data, and every PromQL expression in it.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { labelValuesQuery } from './promql.js';

const DASHBOARD_FILE = join(import.meta.dirname, '../../deploy/grafana/dashboards/xingtu-gateway.json');

interface Target {
  expr?: string;
  refId: string;
  datasource?: { uid?: string };
}
export interface Panel {
  id: number;
  type: string;
  title: string;
  datasource?: { uid?: string };
  targets?: Target[];
  panels?: Panel[];
}
export interface Dashboard {
  uid: string;
  panels: Panel[];
  templating: {
    list: { name: string; type: string; query: string | { query: string }; current?: { value: unknown } }[];
  };
}

export function loadDashboard(): Dashboard {
  return JSON.parse(readFileSync(DASHBOARD_FILE, 'utf8')) as Dashboard;
}

/** Panels, rows' nested panels included. */
export const allPanels = (ps: Panel[]): Panel[] => ps.flatMap((p) => [p, ...allPanels(p.panels ?? [])]);

/** Every PromQL expression of the dashboard (panel targets and variable queries), with where it is. */
export function dashboardQueries(d: Dashboard): { where: string; expr: string }[] {
  const out: { where: string; expr: string }[] = [];
  for (const p of allPanels(d.panels)) {
    for (const t of p.targets ?? []) out.push({ where: `panel "${p.title}" ${t.refId}`, expr: t.expr ?? '' });
  }
  for (const v of d.templating.list) {
    if (v.type !== 'query') continue;
    const q = typeof v.query === 'string' ? v.query : v.query.query;
    out.push({ where: `variable $${v.name}`, expr: labelValuesQuery(q)?.expr ?? q });
  }
  return out;
}
