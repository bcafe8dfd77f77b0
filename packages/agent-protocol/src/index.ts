/**
 * What the agent and the control plane share (docs/agent-protocol.md): the desired-state types and the
 * agent's strict validator (the API runs it on what it compiles), strict IPv4/CIDR parsing, and the
 * time-to-bypass bucket bounds of the telemetry report.
 */
export * from './cidr.js';
export * from './desired-state.js';
export * from './telemetry.js';
