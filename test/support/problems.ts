import assert from 'node:assert/strict';
import { HttpException } from '@nestjs/common';
import { domainProblem } from '../../src/http/problem.filter.js';
import { DomainError } from '../../src/model/domain.error.js';

/**
 * The status and problem body that a call's error answers with at the HTTP edge (a domain
 * error mapped by the problem filter, or an HTTP exception); fails when it throws nothing.
 */
export function thrownProblem(fn: () => unknown): { status: number; body: any } {
  try {
    fn();
  } catch (err) {
    if (err instanceof DomainError) {
      const body = domainProblem(err);
      return { status: body.status, body };
    }
    assert.ok(err instanceof HttpException, String(err));
    return { status: err.getStatus(), body: err.getResponse() };
  }
  assert.fail('expected a problem');
}
