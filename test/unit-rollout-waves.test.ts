// Issue 17: rollouts in waves, the pure part: the waves and halt policy an administrator types,
// which wave a machine falls in (stable across rollouts, a share of the class per wave), and the
// next step of a running rollout (halt, wait, open the next wave, end).
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isAptgateError } from '../src/errors.js';
import { halts, nextStep, parseHalt, parseWaves, positionOf, waveOf } from '../src/gate/rollout-waves.js';

const usage = (re: RegExp) => (e: unknown) => isAptgateError(e, 'USAGE') && re.test((e as Error).message);

describe('rollout waves', () => {
  it('waves: rising cumulative shares ending at 100%; mistakes are USAGE', () => {
    assert.deepEqual(parseWaves('5%,25%,100%'), [5, 25, 100]);
    assert.deepEqual(parseWaves('20 50 100'), [20, 50, 100]);
    assert.deepEqual(parseWaves('100%'), [100]);
    assert.throws(() => parseWaves('50%,20%,100%'), usage(/more than the one before/));
    assert.throws(() => parseWaves('5%,25%'), usage(/last wave is 100%/));
    assert.throws(() => parseWaves('0%,100%'), usage(/not a share/));
    assert.throws(() => parseWaves('5%,abc,100%'), usage(/not a share/));
    assert.throws(() => parseWaves(''), usage(/1 to 20 shares/));
  });

  it("a machine's wave: deterministic, the same in the next rollout, a share of the class per wave; a new salt reshuffles", () => {
    const waves = [5, 25, 100];
    const ids = Array.from({ length: 20_000 }, (_, i) => `${i.toString(16).padStart(32, '0')}`);
    const per = [0, 0, 0];
    for (const id of ids) per[waveOf(id, 'web@production', waves)]!++;
    // 5 %, 20 %, 75 % of 20,000, within a few tenths of a percent
    assert.ok(Math.abs(per[0]! - 1000) < 150, String(per));
    assert.ok(Math.abs(per[1]! - 4000) < 250, String(per));
    assert.ok(Math.abs(per[2]! - 15000) < 300, String(per));
    for (const id of ids.slice(0, 50)) {
      assert.equal(waveOf(id, 'web@production', waves), waveOf(id, 'web@production', waves));
      assert.ok(positionOf(id, 's') >= 0 && positionOf(id, 's') < 100);
    }
    // other waves of the same salt: a machine keeps its place, only the cut moves
    for (const id of ids.slice(0, 500))
      if (waveOf(id, 'web@production', waves) === 0) assert.equal(waveOf(id, 'web@production', [20, 50, 100]), 0);
    const moved = ids.filter((id) => waveOf(id, 'web@production', waves) !== waveOf(id, 'reshuffled', waves));
    assert.ok(moved.length > 5000, `a new salt moves machines between waves (${moved.length})`);
  });

  it('halt: a number of machines or a share of the open wave', () => {
    assert.deepEqual(parseHalt('2'), { count: 2, share: null });
    assert.deepEqual(parseHalt('10%'), { count: null, share: 0.1 });
    assert.throws(() => parseHalt('many'), usage(/number of machines/));
    assert.throws(() => parseHalt('150%'), usage(/not a share/));
    const o = (failed: number, machines = 10) => ({ machines, succeeded: 0, failed, pending: machines - failed });
    assert.equal(halts(o(0), { count: 1, share: null }), false);
    assert.equal(halts(o(1), { count: 1, share: null }), true);
    assert.equal(halts(o(1), { count: 2, share: null }), false);
    assert.equal(halts(o(1), { count: 0, share: null }), true, '0: the first failure halts');
    assert.equal(halts(o(1), { count: null, share: 0.2 }), false);
    assert.equal(halts(o(2), { count: null, share: 0.2 }), true);
  });

  it('the next step: halt on failures, wait for the wave and its soak, open the next, end after the last', () => {
    const r = { state: 'running' as const, wave: 0, openedAt: 1000, waves: [20, 50, 100] };
    const policy = { soakMs: 500, halt: { count: 1, share: null } };
    const done = { machines: 2, succeeded: 2, failed: 0, pending: 0 };
    assert.deepEqual(nextStep(r, { machines: 2, succeeded: 1, failed: 1, pending: 0 }, policy, 5000), {
      action: 'halt',
      reason: 'wave 1: 1 of 2 machines failed',
    });
    assert.equal(nextStep(r, { machines: 2, succeeded: 1, failed: 0, pending: 1 }, policy, 5000).action, 'wait');
    assert.deepEqual(nextStep(r, done, policy, 1200), { action: 'wait', reason: 'wave 1 soaks', until: 1500 });
    assert.deepEqual(nextStep(r, done, policy, 1500), { action: 'open', wave: 1 });
    assert.deepEqual(nextStep({ ...r, wave: 2 }, done, policy, 1500), { action: 'done' });
    assert.equal(nextStep({ ...r, state: 'paused' }, done, policy, 9999).action, 'wait');
  });
});

describe('rollout waves by rank, stage view names', () => {
  it('waves by rank: exactly ceil(share × n) machines up to each wave, the same order in every rollout of a salt', async () => {
    const { assignWaves } = await import('../src/gate/rollouts.js');
    const members = Array.from({ length: 10 }, (_, i) => ({ id: i + 1, machineId: `${(i * 7919).toString(16)}ab` }));
    const sizes = (a: Array<{ wave: number }>) => [0, 1, 2].map((w) => a.filter((x) => x.wave === w).length);
    const a = assignWaves(members, 'salt-1', [20, 50, 100]);
    assert.deepEqual(sizes(a), [2, 3, 5]);
    // small classes: every wave but the last gets at least one machine when there are enough
    assert.deepEqual(sizes(assignWaves(members.slice(0, 3), 'salt-1', [5, 25, 100])), [1, 1, 1]);
    assert.deepEqual(sizes(assignWaves(members.slice(0, 1), 'salt-1', [5, 25, 100])), [1, 0, 0]);
    assert.deepEqual(assignWaves([], 'salt-1', [5, 100]), []);
    // the same salt: the same order (a machine of the first wave stays first); another salt reorders
    const again = assignWaves([...members].reverse(), 'salt-1', [20, 50, 100]);
    const waveOfId = (x: Array<{ machine: number; wave: number }>) =>
      Object.fromEntries(x.map((m) => [m.machine, m.wave]));
    assert.deepEqual(waveOfId(again), waveOfId(a));
    const orders = ['salt-2', 'salt-3', 'salt-4'].map((s) =>
      JSON.stringify(waveOfId(assignWaves(members, s, [20, 50, 100]))),
    );
    assert.ok(
      orders.some((o) => o !== JSON.stringify(waveOfId(a))),
      'another salt reorders',
    );
  });

  it('stage view names: a stage, or a side of one of its rollouts; anything else is no view', async () => {
    const { parseStageView, stageViewName } = await import('../src/index/stage-view.js');
    assert.deepEqual(parseStageView('production'), { stage: 'production' });
    assert.deepEqual(parseStageView('production--r12-from'), {
      stage: 'production',
      rollout: { id: 12, side: 'from' },
    });
    assert.deepEqual(parseStageView('qa-2--r3-to'), { stage: 'qa-2', rollout: { id: 3, side: 'to' } });
    assert.equal(stageViewName('qa-2', { id: 3, side: 'to' }), 'qa-2--r3-to');
    // agents before rollouts take a stage URI of [a-z0-9_-]: a side fits
    assert.match(stageViewName('production', { id: 123456789, side: 'from' }), /^[a-z0-9_-]+$/);
    for (const bad of [
      '',
      'Production',
      'production.r1.from',
      'production--r0-from',
      'production--r1-back',
      'production--r1',
      'a--b',
      '../x',
      'a--r1-to-x',
      'p--r1234567890-to',
    ])
      assert.equal(parseStageView(bad), undefined, bad);
  });

  it('[gate] stages never hold "--": a rollout side is never taken for a stage', async () => {
    const { applySetting, defaultConfig } = await import('../src/config.js');
    const c = defaultConfig();
    applySetting(c, 'gate.stages', 'test qa-1 production');
    assert.deepEqual(c.gate.stages, ['test', 'qa-1', 'production']);
    assert.throws(
      () => applySetting(c, 'gate.stages', 'test production--r1-from'),
      (e: unknown) => isAptgateError(e, 'CONFIG_INVALID') && /never --/.test((e as Error).message),
    );
  });
});
