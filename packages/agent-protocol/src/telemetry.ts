/** Upper bounds of the time-to-bypass buckets, in ms, as the protocol fixes them (docs/agent-protocol.md). */
export const TTB_BUCKETS_MS = [0.5, 1, 2, 5, 10, 20, 50, 100, 250, 1000];
