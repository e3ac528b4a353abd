import { describe, expect, it } from 'vitest';
import { safeUrl } from '../../src/logger.js';

const SECRET = 'tok_0123456789abcdef';
const M = '%5BREDACTED%5D';

describe('safeUrl', () => {
  it('leaves a URL without credentials as it is', () => {
    for (const url of [
      '/v1/authors/7012345678901234567/spread-info',
      '/v1/authors/a_b-c/spread-info?platform=LIVE_STREAMING&range=DAY_90',
      '/openapi.json',
      '/x;v=1/y?a=%20b',
    ]) {
      expect(safeUrl(url, [SECRET])).toBe(url);
    }
  });

  it('masks credential parameters in the query, however they are separated or encoded', () => {
    expect(safeUrl('/d?oAuthorId=1&token=abc')).toBe(`/d?oAuthorId=1&token=${M}`);
    expect(safeUrl('/d?a=1;token=abc&b=2')).toBe(`/d?a=1;token=${M}&b=2`);
    expect(safeUrl('/d?%74oken=abc')).toBe(`/d?%74oken=${M}`);
    expect(safeUrl('/d?access_token=abc&api_key=x&X-Secret=y&password=z')).toBe(
      `/d?access_token=${M}&api_key=${M}&X-Secret=${M}&password=${M}`,
    );
  });

  it('masks matrix and name=value path parameters', () => {
    expect(safeUrl('/nowhere;token=abc')).toBe(`/nowhere;token=${M}`);
    expect(safeUrl('/v1/authors/1;key=abc;x=2/spread-info')).toBe(`/v1/authors/1;key=${M};x=2/spread-info`);
    expect(safeUrl('/a/token=abc/b')).toBe(`/a/token=${M}/b`);
    expect(safeUrl('/a;%6Bey=abc')).toBe(`/a;%6Bey=${M}`);
  });

  it("masks the gateway's own secrets and JWTs wherever they are, encoded or not", () => {
    expect(safeUrl(`/v1/authors/${SECRET}/spread-info`, [SECRET])).toBe(`/v1/authors/${M}/spread-info`);
    const encoded = encodeURIComponent(SECRET).replace('t', '%74');
    expect(safeUrl(`/x/${encoded}?q=${encoded}`, [SECRET])).toBe(`/x/${M}?q=${M}`);
    expect(safeUrl(`/x?q=a+${SECRET}`, [SECRET])).toBe(`/x?q=${M}`);
    const jwt = 'eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJl';
    expect(safeUrl(`/x/${jwt}?id=${jwt}`)).toBe(`/x/${M}?id=${M}`);
  });

  it('does not throw on malformed percent-encoding', () => {
    expect(safeUrl('/x/%E0%A4%A?token=%ZZ')).toBe(`/x/%E0%A4%A?token=${M}`);
  });
});
