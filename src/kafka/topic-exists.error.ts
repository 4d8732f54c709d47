import { findErrorBy } from '@platformatic/kafka';

/**
 * Whether a failed @platformatic/kafka `createTopics` failed because the topic exists: another
 * process created it at the same moment (two workers of FLEETSIM_WORKERS at their start). The
 * library nests the broker's TOPIC_ALREADY_EXISTS inside a MultipleErrors → ResponseError whose
 * messages do not say it, so it is looked for by its API error id at any depth.
 */
export function isTopicAlreadyExists(err: unknown): boolean {
  return err instanceof Error && findErrorBy(err, 'apiId', 'TOPIC_ALREADY_EXISTS') !== null;
}
