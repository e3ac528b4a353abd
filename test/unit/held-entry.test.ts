// HeldOk, the form every store keeps an ok answer in: any JSON `data` (a family endpoint's list as
// well as spread-info's object) kept and answered byte for byte, and the normalised metrics made only
// when spread-info's /v1 route asks (then kept while the entry is hot), never when an entry is stored.
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { OkEntry } from '../../src/cache/entry.js';
import { HeldOk, storeJson } from '../../src/cache/held-entry.js';
import * as normalize from '../../src/normalize/spread-info.js';

vi.mock('../../src/normalize/spread-info.js', async (original) => {
  const real = await original<typeof import('../../src/normalize/spread-info.js')>();
  return { ...real, normalizeSpreadInfo: vi.fn(real.normalizeSpreadInfo) };
});
const normalizer = vi.mocked(normalize.normalizeSpreadInfo);

const ok = (data: unknown, requestId = `r-${Math.random()}`): OkEntry => ({
  kind: 'ok',
  data,
  fetchedAt: 1_795_921_200_456,
  requestId,
  message: 'success',
  recordTime: '2026-11-29T03:00:00Z',
});

afterEach(() => normalizer.mockClear());

describe('HeldOk', () => {
  it('keeps a list, a string or a number as data, byte for byte, and writes it back for the store', () => {
    for (const data of [[{ item_id: '1', title: '旅行' }, 2, null], [], '文本', 42, false]) {
      const held = HeldOk.from(ok(data));
      expect(held.data).toEqual(data);
      expect(held.dataBytes().toString()).toBe(JSON.stringify(data));
      expect(JSON.parse(storeJson(held))).toMatchObject({ kind: 'ok', data, message: 'success' });
      expect(held.toJSON()).toMatchObject({ data });
    }
  });

  it('does not normalise an entry when it is stored, only when the /v1 route asks; then keeps the metrics while hot', () => {
    const held = HeldOk.from(ok({ avg_duration: '2600', play_mid: '10' }));
    HeldOk.from(ok([{ endpoint: 'get_author_homepage_videos' }]));
    expect(normalizer).not.toHaveBeenCalled();
    const metrics = JSON.parse(held.metricsJson());
    expect(metrics).toMatchObject({ avgDuration: 2600 });
    expect(held.metricsJson()).toBe(JSON.stringify(metrics));
    expect(normalizer).toHaveBeenCalledTimes(1);
  });

  it("normalises a non-object spread-info data to the metrics' nulls rather than failing", () => {
    const metrics = JSON.parse(HeldOk.from(ok([{ avg_duration: '2600' }])).metricsJson());
    expect(metrics.avgDuration).toBeNull();
    expect(metrics.playMedian).toBeNull();
    expect(metrics.extra).toBeUndefined();
  });
});
