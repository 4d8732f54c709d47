import type { FieldProblem } from './domain.error.js';

/** What a validator reports about one property (the shape of class-validator's ValidationError). */
export interface ValidationFailure {
  property: string;
  value?: unknown;
  constraints?: Record<string, string>;
  children?: ValidationFailure[];
}

/** Which broken rule to report first for a field: presence, then type, then range. */
const RULE_ORDER = [
  'whitelistValidation',
  'isDefined',
  'isString',
  'isInt',
  'isNumber',
  'isBoolean',
  'isArray',
  'nestedValidation',
  'isIn',
];
const rank = (rule: string) => {
  const i = RULE_ORDER.indexOf(rule);
  return i < 0 ? RULE_ORDER.length : i;
};

/**
 * Flattens class-validator errors to field paths ("layout.buildings") with the first broken
 * rule of each field: a missing value is reported as missing, a string as not an integer,
 * rather than as every range it also fails.
 */
export function fieldProblems(errors: ValidationFailure[], prefix = ''): FieldProblem[] {
  return errors.flatMap((e) => {
    const field = `${prefix}${e.property}`;
    const own: FieldProblem[] = [];
    const rules = Object.entries(e.constraints ?? {}).sort(([a], [b]) => rank(a) - rank(b));
    if (rules.length) {
      const [rule, message] = rules[0];
      if (rule === 'whitelistValidation') {
        own.push({ field, rule: 'unknown', message: `${field} is not a known field` });
      } else if (e.value === undefined && rule !== 'isDefined') {
        own.push({ field, rule: 'isDefined', message: `${field} is required` });
      } else {
        own.push({ field, rule, message: prefix ? message.replace(e.property, field) : message });
      }
    }
    return [...own, ...fieldProblems(e.children ?? [], `${field}.`)];
  });
}
