// Batch bodies for the fuzz tests: valid items, and one-field-wrong batches whose bad field is
// known, so the test can demand that the 400 names `items.N.field`.
import fc from 'fast-check';
import { BATCH_MAX_ITEMS } from '../../src/routes/batch.js';
import { AUTHOR_ID_PATTERN } from '../../src/upstream/params.js';
import { ENUMS, validId } from './arbitraries.js';

const FIELDS = ['oAuthorId', ...Object.keys(ENUMS)];
const oneOf = (field: string) => fc.constantFrom(...(ENUMS[field] ?? []));

/** A valid item: any subset of the optional fields, each with an allowed value. */
const item = fc.record(
  {
    oAuthorId: validId,
    platform: oneOf('platform'),
    range: oneOf('range'),
    type: oneOf('type'),
    onlyAssign: fc.boolean(),
    flowType: oneOf('flowType'),
  },
  { requiredKeys: ['oAuthorId'] },
);
const items = (min: number, max: number) => fc.array(item, { minLength: min, maxLength: max });
export const validBody = items(1, 5).map((xs) => JSON.stringify({ items: xs }));
export const notJson = (s: string) => {
  try {
    JSON.parse(s);
    return false;
  } catch {
    return true;
  }
};
const junkValue = fc.oneof(
  fc.integer(),
  fc.constant(null),
  fc.boolean(),
  fc.array(fc.nat(), { maxLength: 2 }),
  fc.dictionary(fc.stringMatching(/^[a-z]{1,5}$/), fc.nat(), { maxKeys: 2 }),
);
const badValue = (field: string): fc.Arbitrary<unknown> =>
  field === 'oAuthorId'
    ? fc.oneof(
        fc.string({ maxLength: 300 }).filter((s) => !AUTHOR_ID_PATTERN.test(s)),
        junkValue,
      )
    : field === 'onlyAssign'
      ? fc.oneof(
          fc.constantFrom('true', 'false', 'yes', ''),
          junkValue.filter((v) => typeof v !== 'boolean'),
        )
      : fc.oneof(
          fc.string().filter((s) => !ENUMS[field]?.includes(s)),
          junkValue,
        );

/** A batch of 1 to 100 items, one of which has one field wrong, missing, or unknown. */
export const badItemCase = items(1, BATCH_MAX_ITEMS).chain((xs) =>
  fc.record({
    xs: fc.constant(xs),
    n: fc.nat(xs.length - 1),
    change: fc.oneof(
      fc
        .constantFrom(...FIELDS)
        .chain((name) => badValue(name).map((value) => ({ name, value, drop: false }))),
      fc.constant({ name: 'oAuthorId', value: undefined as unknown, drop: true }),
      fc
        .stringMatching(/^[a-z][A-Za-z]{0,11}$/)
        .filter((name) => !FIELDS.includes(name))
        .map((name) => ({ name, value: 1 as unknown, drop: false })),
    ),
  }),
);
