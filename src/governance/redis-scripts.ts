// Lua run by Redis so that every instance's check-and-reserve is one atomic step, timed by Redis's
// own clock (TIME) rather than by instances whose clocks disagree. The arithmetic mirrors gcra.ts
// and backoff.ts. All keys share the `{gov}` hash tag: in Redis Cluster one script, one slot.

/** KEYS (all scripts): rate, quota:<day>, dayover:<day>, pause, strikes, circuit, probe. */
export const GOVERNOR_KEYS = ['rate', 'quota', 'dayover', 'pause', 'strikes', 'circuit', 'probe'] as const;

const NOW = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + tonumber(t[2]) / 1000
`;

/**
 * ARGV: mode ('reserve' | 'admit'), intervalMs, burst, maxWaitMs, quota (0: none), dayLeftMs,
 * probeTtlMs, unsynced (calls admitted in-process while Redis was away, added to today's count),
 * handoffMs (how far ahead of now the in-process schedule has handed out slots while Redis was
 * away; 0: none): the shared schedule starts after them, `tat = max(tat, now + handoffMs)`.
 * Returns {'go', probe 0|1, used, tatAhead} | {'wait', ms, used, tatAhead} |
 * {reason, retryMs, code-or-used, probing 0|1}; tatAhead is how far ahead of now the shared
 * schedule's tat is after a reservation (-1 on 'admit'), so the in-process one can start from it.
 * 'reserve' takes a rate slot (nothing when refused) and, if the slot is now, admits at once;
 * 'admit' is the second step after waiting: pauses may have begun meanwhile.
 */
export const GATE_LUA = `${NOW}
local mode = ARGV[1]
local interval = tonumber(ARGV[2])
local burst = tonumber(ARGV[3])
local maxWait = tonumber(ARGV[4])
local quota = tonumber(ARGV[5])
local dayLeft = tonumber(ARGV[6])
local dayKeyTtl = math.ceil(dayLeft) + 3600000
if tonumber(ARGV[8]) > 0 then
  redis.call('INCRBY', KEYS[2], ARGV[8])
  redis.call('PEXPIRE', KEYS[2], dayKeyTtl)
end
local handoff = tonumber(ARGV[9] or '0')
if handoff > 0 and now + handoff > tonumber(redis.call('GET', KEYS[1]) or '0') then
  redis.call('SET', KEYS[1], string.format('%.3f', now + handoff), 'PX', math.ceil(handoff) + 1000)
end
local tatAhead = -1
local probe = 0
local openUntil = redis.call('HGET', KEYS[6], 'until')
if openUntil then
  local code = tonumber(redis.call('HGET', KEYS[6], 'code') or '0')
  local left = tonumber(openUntil) - now
  if left > 0 then return {'circuit', math.ceil(left), code} end
  local probeLeft = redis.call('PTTL', KEYS[7])
  if probeLeft > 0 then return {'circuit', probeLeft, code, 1} end
  probe = 1
end
local dayover = redis.call('PTTL', KEYS[3])
if dayover > 0 then return {'dayover', dayover, 303} end
local pause = redis.call('PTTL', KEYS[4])
if pause > 0 then return {'backoff', pause, 302} end
local used = tonumber(redis.call('GET', KEYS[2]) or '0')
if quota > 0 and used >= quota then return {'quota', math.ceil(dayLeft), used} end
if mode == 'reserve' then
  local base = math.max(tonumber(redis.call('GET', KEYS[1]) or '0'), now)
  local start = math.max(now, base - (burst - 1) * interval)
  local wait = start - now
  if wait > maxWait then return {'rate', math.ceil(wait), used} end
  local tat = base + interval
  redis.call('SET', KEYS[1], string.format('%.3f', tat), 'PX', math.ceil(tat - now) + 1000)
  tatAhead = math.ceil(tat - now)
  if wait > 0 then return {'wait', math.ceil(wait), used, tatAhead} end
end
if probe == 1 then redis.call('SET', KEYS[7], '1', 'PX', ARGV[7]) end
if quota > 0 then
  used = redis.call('INCR', KEYS[2])
  redis.call('PEXPIRE', KEYS[2], dayKeyTtl)
end
return {'go', probe, used, tatAhead}
`;

/**
 * After an answer. ARGV: event ('ok' | '302' | '303' | 'credential' | 'other' | 'nocode'),
 * isProbe 0|1, code, backoffBaseMs, backoffCapMs, jitter01, strikesTtlMs, dayLeftMs,
 * cooldownMs, cooldownCapMs, circuitRetentionMs.
 * Returns {effect, ms, strikes, closed 0|1}: effect is 'none', 'backoff' (a new pause), 'paused'
 * (one was already running: a burst of 302s counts once), 'dayover', 'opened', 'reopened', 'already'.
 */
export const RECORD_LUA = `${NOW}
local event = ARGV[1]
local isProbe = ARGV[2] == '1'
local code = ARGV[3]
local backoffBase = tonumber(ARGV[4])
local backoffCap = tonumber(ARGV[5])
local jitter01 = tonumber(ARGV[6])
local strikesTtl = ARGV[7]
local dayLeft = tonumber(ARGV[8])
local cooldown = tonumber(ARGV[9])
local cooldownCap = tonumber(ARGV[10])
local retention = tonumber(ARGV[11])
local closed = 0
if isProbe and event == 'nocode' then
  redis.call('DEL', KEYS[7])
elseif isProbe and event ~= 'credential' then
  redis.call('DEL', KEYS[6], KEYS[7])
  closed = 1
end
if event == 'ok' then
  redis.call('DEL', KEYS[5])
elseif event == '302' then
  local left = redis.call('PTTL', KEYS[4])
  if left > 0 then return {'paused', left, tonumber(redis.call('GET', KEYS[5]) or '0'), closed} end
  local strikes = redis.call('INCR', KEYS[5])
  redis.call('PEXPIRE', KEYS[5], strikesTtl)
  local base = math.min(backoffCap, backoffBase * 2 ^ (strikes - 1))
  local ms = math.floor(base * (1 + 0.5 * jitter01) + 0.5)
  redis.call('SET', KEYS[4], '1', 'PX', ms)
  return {'backoff', ms, strikes, closed}
elseif event == '303' then
  local ms = math.max(1, math.ceil(dayLeft))
  redis.call('SET', KEYS[3], '1', 'PX', ms)
  return {'dayover', ms, 0, closed}
elseif event == 'credential' then
  local openUntil = redis.call('HGET', KEYS[6], 'until')
  local strikes = tonumber(redis.call('HGET', KEYS[6], 'strikes') or '0')
  if openUntil and not isProbe then
    return {'already', math.max(0, math.ceil(tonumber(openUntil) - now)), strikes, closed}
  end
  strikes = strikes + 1
  local ms = math.min(cooldownCap, cooldown * 2 ^ (strikes - 1))
  redis.call('HSET', KEYS[6], 'until', string.format('%.3f', now + ms), 'strikes', strikes, 'code', code)
  redis.call('PEXPIRE', KEYS[6], math.ceil(ms) + retention)
  redis.call('DEL', KEYS[7])
  return {strikes == 1 and 'opened' or 'reopened', math.ceil(ms), strikes, closed}
end
return {'none', 0, 0, closed}
`;

/**
 * Read-only view for /readyz, /metrics and the in-process mirror:
 * {circuitLeftMs (-1: closed), code, dayoverMs, pauseMs, used, rateAheadMs (the tat, ahead of now)}.
 */
export const STATUS_LUA = `${NOW}
local circuit = -1
local code = 0
local openUntil = redis.call('HGET', KEYS[6], 'until')
if openUntil then
  circuit = math.max(0, math.ceil(tonumber(openUntil) - now))
  code = tonumber(redis.call('HGET', KEYS[6], 'code') or '0')
end
local used = tonumber(redis.call('GET', KEYS[2]) or '0')
local ahead = math.max(0, math.ceil(tonumber(redis.call('GET', KEYS[1]) or '0') - now))
return {circuit, code, redis.call('PTTL', KEYS[3]), redis.call('PTTL', KEYS[4]), used, ahead}
`;
