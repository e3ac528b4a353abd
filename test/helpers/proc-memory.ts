// A child process's memory as the kernel counts it (/proc/<pid>/status): the resident set now and
// its peak, for the tests that bound what a hostile peer can make the gateway hold.
import { readFileSync } from 'node:fs';

/** VmRSS (now) and VmHWM (the peak since start), in MB. */
export function residentMb(pid: number): { rss: number; peak: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (field: string) => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? NaN);
  return { rss: kb('VmRSS') / 1024, peak: kb('VmHWM') / 1024 };
}
