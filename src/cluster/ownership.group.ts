import { Admin, Consumer, MessagesStreamModes, stringDeserializers } from '@platformatic/kafka';
import { type KafkaSecurity, platformaticSecurityOptions } from '../kafka/kafka-security.js';
import { isTopicAlreadyExists } from '../kafka/topic-exists.error.js';
import { ResumingStream } from './resuming.stream.js';

export interface OwnershipGroupOptions {
  brokers: string[];
  clientId: string;
  /** The consumer group every member joins (`<cluster>.members`). */
  groupId: string;
  /** The topic whose partitions are shared out (`<cluster>.ownership`). */
  topic: string;
  sessionTimeoutMs: number;
  /** How long a member may take to release partitions during a rebalance. */
  rebalanceTimeoutMs: number;
  /** Called whenever the assignment may have changed. */
  changed: () => void;
  log: (message: string) => void;
  /** TLS and SASL (kafka.tls, kafka.sasl), as the producer connects. */
  security?: KafkaSecurity;
  /** Progress of the group (joins and their assignments), for the log. */
  info: (message: string) => void;
}

/**
 * Partition ownership through Kafka's group protocol (one of the two files of src/cluster/
 * that talk to a Kafka client, see .dependency-cruiser.cjs): the members of a cluster join
 * one consumer group (cooperative-sticky) on a topic with as many partitions as the readings
 * topic; the partitions assigned to a member are the readings partitions it produces. Nothing
 * is ever read from or committed to the topic: only the assignment matters.
 */
export class OwnershipGroup {
  private readonly admin: Admin;
  private consumer?: Consumer<string, string, string, string>;
  private stream?: ResumingStream<unknown>;
  /** Whether this member computed the group's last assignment. */
  private leader = false;

  constructor(private readonly options: OwnershipGroupOptions) {
    this.admin = new Admin({
      clientId: options.clientId,
      bootstrapBrokers: options.brokers,
      ...platformaticSecurityOptions(options.security),
    });
  }

  /** Partition count of `topic`, or undefined when it does not exist. */
  async partitionsOf(topic: string): Promise<number | undefined> {
    const topics = await this.admin.listTopics();
    if (!topics.includes(topic)) return undefined;
    const metadata = await this.admin.metadata({ topics: [topic] });
    return metadata.topics.get(topic)?.partitionsCount;
  }

  /**
   * Makes the ownership topic have `partitions` partitions (creates it, or adds partitions
   * when the readings topic grew; Kafka cannot remove partitions).
   */
  async ensureTopic(partitions: number): Promise<void> {
    const current = await this.partitionsOf(this.options.topic);
    if (current === undefined) {
      await this.admin
        .createTopics({ topics: [this.options.topic], partitions, replicas: -1 })
        .catch((err: Error) => {
          if (!isTopicAlreadyExists(err)) throw err; // another member made it meanwhile
        });
    } else if (current < partitions) {
      await this.admin
        .createPartitions({ topics: [{ name: this.options.topic, count: partitions }] })
        .catch((err: Error) => {
          // Another member may have grown it first.
          if (!/INVALID_PARTITIONS|already has/i.test(err.message + JSON.stringify(err))) throw err;
        });
    }
  }

  /** Joins the group; `changed` is called on every join and rebalance. */
  async join(): Promise<void> {
    const o = this.options;
    this.consumer = new Consumer({
      clientId: o.clientId,
      bootstrapBrokers: o.brokers,
      ...platformaticSecurityOptions(o.security),
      groupId: o.groupId,
      deserializers: stringDeserializers,
      sessionTimeout: o.sessionTimeoutMs,
      heartbeatInterval: Math.min(1000, Math.floor(o.sessionTimeoutMs / 4)),
      rebalanceTimeout: o.rebalanceTimeoutMs,
      protocols: [{ name: 'cooperative-sticky', version: 3 }],
      autocommit: false,
    });
    this.consumer.on(
      'consumer:group:join',
      (e: {
        generationId: number;
        isLeader: boolean;
        assignments?: { partitions: number[] }[];
      }) => {
        this.leader = e.isLeader;
        const mine = (e.assignments ?? []).flatMap((a) => a.partitions).sort((x, y) => x - y);
        o.info(
          `group generation ${e.generationId}${e.isLeader ? ' (leader)' : ''}: partitions ${mine.join(',') || 'none'}`,
        );
        o.changed();
      },
    );
    this.consumer.on('consumer:group:rebalance', o.changed);
    const consumer = this.consumer;
    // The stream is what subscribes the member to the topic (it is never read): one the client
    // destroyed (e.g. its offsets not listed after a rejoin while a broker was down) would leave
    // the member subscribed to nothing at the next rebalance, so it is opened again (which
    // rejoins the group with the topic).
    this.stream = new ResumingStream({
      open: () =>
        consumer.consume({
          topics: [o.topic],
          mode: MessagesStreamModes.LATEST,
          autocommit: false,
        }),
      name: 'ownership group stream',
      log: o.log,
    });
    await this.stream.start();
  }

  /**
   * Asks the coordinator for a new assignment after the ownership topic grew to `partitions`.
   * The group's leader shares out the partitions its consumer's cached metadata knows (kept up
   * to `metadataMaxAge`, 5 s): a rebalance led with the old count leaves the new partitions
   * unassigned, and nothing rebalances again. So the consumer's metadata is refreshed first,
   * until it shows the new count: every member does this before it rejoins, and the leader's
   * rejoin always rebalances, so the last rebalance is led with the new count.
   */
  async rejoin(partitions: number): Promise<void> {
    const consumer = this.consumer;
    if (!consumer) return;
    for (let attempt = 0; ; attempt++) {
      const metadata = await consumer.metadata({ topics: [this.options.topic], forceUpdate: true });
      const seen = metadata.topics.get(this.options.topic)?.partitionsCount ?? 0;
      if (seen >= partitions) break;
      if (attempt >= 50) {
        throw new Error(`the group's metadata shows ${seen} of ${partitions} partitions`);
      }
      await new Promise((r) => setTimeout(r, 100));
    }
    await consumer.joinGroup({});
  }

  /**
   * False when this member leads the group, the group is stable and its assignment leaves
   * some of the `partitions` partitions to nobody (a rebalance was led with stale metadata).
   */
  async covers(partitions: number): Promise<boolean> {
    if (!this.leader || !this.consumer) return true;
    const group = (await this.admin.describeGroups({ groups: [this.options.groupId] })).get(
      this.options.groupId,
    );
    if (!group || group.state !== 'Stable') return true;
    const assigned = new Set<number>();
    for (const m of group.members.values()) {
      for (const p of m.assignments?.get(this.options.topic)?.partitions ?? []) assigned.add(p);
    }
    for (let p = 0; p < partitions; p++) if (!assigned.has(p)) return false;
    return true;
  }

  /** The partitions of the ownership topic assigned to this member now. */
  assigned(): Set<number> {
    const out = new Set<number>();
    for (const a of this.consumer?.assignments ?? []) {
      if (a.topic === this.options.topic) for (const p of a.partitions) out.add(p);
    }
    return out;
  }

  /** This member's id in the group ('' before it joined). */
  get memberId(): string {
    return this.consumer?.memberId ?? '';
  }

  /** Whether the group still has a member with this id (a crashed one drops out after the session timeout). */
  async alive(memberId: string): Promise<boolean> {
    if (!memberId) return false;
    const groups = await this.admin.describeGroups({ groups: [this.options.groupId] });
    return groups.get(this.options.groupId)?.members.has(memberId) ?? false;
  }

  /** Leaves the group (the consumer's close leaves it at once, so a rebalance starts now). */
  async leave(): Promise<void> {
    await this.stream?.close();
    await this.consumer?.close(true).catch(() => {});
  }

  async close(): Promise<void> {
    await this.leave();
    await this.admin.close().catch(() => {});
  }
}
