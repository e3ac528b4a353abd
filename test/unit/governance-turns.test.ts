// Whose turn it is: round robin between waiting callers, first come first served within one.
import { describe, expect, it } from 'vitest';
import { Turns } from '../../src/governance/turns.js';

const drain = <T>(t: Turns<T>) => {
  const out: T[] = [];
  for (let x = t.next(); x !== undefined; x = t.next()) out.push(x);
  return out;
};

describe('turns between callers', () => {
  it('serves a caller that joins behind a long queue next, not after the queue', () => {
    const t = new Turns<string>();
    for (let i = 0; i < 100; i++) t.push('A', `A${i}`);
    expect(t.next()).toBe('A0'); // a slot handed out before B came
    t.push('B', 'B0');
    expect(t.next()).toBe('B0');
    expect(t.next()).toBe('A1');
    expect(t.size).toBe(98);
  });

  it('alternates between callers with queued calls, first come first served within each', () => {
    const t = new Turns<string>();
    for (const x of ['A0', 'A1', 'A2', 'A3']) t.push('A', x);
    for (const x of ['B0', 'B1']) t.push('B', x);
    t.push('C', 'C0');
    expect(drain(t)).toEqual(['A0', 'B0', 'C0', 'A1', 'B1', 'A2', 'A3']);
  });

  it('a caller that asks again right after its turn waits for the others', () => {
    const t = new Turns<string>();
    t.push('A', 'A0');
    t.push('A', 'A1');
    t.push('B', 'B0');
    expect(t.next()).toBe('A0');
    expect(t.next()).toBe('B0');
    t.push('B', 'B1'); // B served just now, A before it: A goes first
    expect(t.next()).toBe('A1');
    expect(t.next()).toBe('B1');
    expect(t.next()).toBeUndefined();
  });

  it('counts per caller and lets a waiter leave the queue', () => {
    const t = new Turns<string>();
    t.push('A', 'A0');
    t.push('A', 'A1');
    t.push('B', 'B0');
    expect(t.count('A')).toBe(2);
    expect(t.remove('A', 'A0')).toBe(true);
    expect(t.remove('A', 'A0')).toBe(false);
    expect(t.remove('B', 'B0')).toBe(true);
    expect(t.count('B')).toBe(0);
    expect([...t.all()]).toEqual([['A', 'A1']]);
    expect(drain(t)).toEqual(['A1']);
    expect(t.size).toBe(0);
  });

  it('forgets callers past its bound: a forgotten caller counts as never served', () => {
    const t = new Turns<string>(2);
    t.push('A', 'A0');
    expect(t.next()).toBe('A0');
    t.push('B', 'B0');
    expect(t.next()).toBe('B0');
    t.push('C', 'C0');
    expect(t.next()).toBe('C0'); // A is forgotten now (bound 2)
    t.push('B', 'B1');
    t.push('A', 'A1');
    expect(t.next()).toBe('A1');
    expect(t.next()).toBe('B1');
  });
});
