import assert from 'node:assert/strict';
import { HttpException } from '@nestjs/common';

/** The status and problem body that a call throws; fails when it throws nothing. */
export function thrownProblem(fn: () => unknown): { status: number; body: any } {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof HttpException, String(err));
    return { status: err.getStatus(), body: err.getResponse() };
  }
  assert.fail('expected a problem');
}
